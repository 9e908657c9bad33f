//! Printing results as text for people or as JSON for scripts.

use std::path::Path;

use serde_json::Value;
use tollgate_core::{Feature, FeatureKind};
use tollgate_sdk::time::format_utc;

use crate::exit::Failure;

/// Where results go: JSON or human text, both on standard output.
pub struct Out {
    /// Print JSON instead of text.
    pub json: bool,
}

impl Out {
    /// Prints `value` as JSON, or the text built by `text`.
    pub fn emit(&self, value: Value, text: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
        } else {
            println!("{}", text());
        }
    }

    /// Prints the result of a verb that makes artifacts to hand on (a usage request, a usage
    /// license, a deactivation code, a key list, a license key): `value` as JSON; or, in text,
    /// the explanation built by `text` on standard error and the artifacts alone on standard
    /// output, one a line, so that `> file` or a pipe gives exactly what the verb that reads
    /// them accepts. On a terminal both appear, explanation first.
    pub fn artifacts(&self, value: Value, text: impl FnOnce() -> String, artifacts: &[&str]) {
        if self.json {
            self.emit(value, String::new);
            return;
        }
        eprintln!("{}", text());
        for a in artifacts {
            println!("{a}");
        }
    }
}

/// `mqtt-server (perpetual), support (until 2027-11-22)…` for one line of text.
pub fn features_line(features: &[Feature]) -> String {
    features
        .iter()
        .map(|f| match f.kind {
            FeatureKind::Perpetual => format!("{} (perpetual)", f.name),
            FeatureKind::Subscription { expires_at } => {
                format!("{} (until {})", f.name, format_utc(expires_at))
            }
            FeatureKind::Metered { quota, period } => {
                format!("{} ({quota} per {})", f.name, period.name())
            }
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// Writes a secret (a license key) to a new file only its owner can read.
pub fn write_secret(path: &Path, secret: &str) -> Result<(), Failure> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| Failure::io(&format!("cannot write {}", path.display()), &e))?;
    f.write_all(secret.as_bytes())
        .and_then(|()| f.write_all(b"\n"))
        .map_err(|e| Failure::io(&format!("cannot write {}", path.display()), &e))
}
