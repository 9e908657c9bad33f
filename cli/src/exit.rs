//! The documented exit codes of `tollgate`, and the failure type every command returns.
//!
//! | code | meaning |
//! |---|---|
//! | 0 | success (for `host check`: the feature is usable) |
//! | 1 | `host check`: the feature is not usable |
//! | 2 | bad command line or configuration (unknown flag, bad date, bad feature spec; a host configuration naming keys (235), a build without a vendor root (236), a probed component overridden without `--allow-override` (238)) |
//! | 3 | the artifact was rejected: malformed, tampered, not certified by the vendor root, wrong product, wrong machine, wrong deployment model (239), expired… |
//! | 4 | the host's state refused the operation (superseded request, deactivated, clock rollback, too few fingerprint components (237)…) |
//! | 5 | the vendor's ledger refused the operation (unknown key, seats exhausted, replay…; `vendor usage import` flagged a report: gap, fork or rewritten history) |
//! | 6 | I/O or storage failure |
//!
//! With `--json`, failures are printed to standard error as
//! `{"error": {"code": N, "kind": "...", "message": "..."}}` where `code` is the stable library
//! result code shared with the C and Java bindings.

use std::process::ExitCode;

/// A failed command: what to print and how to exit.
#[derive(Debug)]
pub struct Failure {
    /// Process exit code (see the module docs).
    pub exit: u8,
    /// Stable library result code (0 when the failure is not a library error).
    pub code: u32,
    /// Short machine-readable kind.
    pub kind: String,
    /// Human-readable message; never contains secrets.
    pub message: String,
}

impl Failure {
    /// A command-line usage error.
    pub fn usage(message: impl Into<String>) -> Self {
        Failure {
            exit: 2,
            code: 0,
            kind: "usage".into(),
            message: message.into(),
        }
    }

    /// An I/O failure.
    pub fn io(what: &str, e: &std::io::Error) -> Self {
        Failure {
            exit: 6,
            code: 0,
            kind: "io".into(),
            message: format!("{what}: {e}"),
        }
    }

    /// Prints the failure and turns it into the process exit code.
    pub fn report(self, json: bool) -> ExitCode {
        if json {
            let v = serde_json::json!({"error": {
                "code": self.code, "kind": self.kind, "message": self.message}});
            eprintln!("{v}");
        } else {
            eprintln!("error: {}", self.message);
        }
        ExitCode::from(self.exit)
    }
}

impl From<tollgate_core::Error> for Failure {
    fn from(e: tollgate_core::Error) -> Self {
        Failure {
            exit: 3,
            code: e.code(),
            kind: variant_name(&e),
            message: e.message().into(),
        }
    }
}

/// The variant name of an error enum value, from its `Debug` form (`SeatsExhausted { max: 1 }`
/// gives `SeatsExhausted`).
pub fn variant_name(e: &impl std::fmt::Debug) -> String {
    let d = format!("{e:?}");
    d.split(|c: char| !c.is_alphanumeric())
        .next()
        .unwrap_or_default()
        .to_string()
}
