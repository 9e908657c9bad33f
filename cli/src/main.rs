//! `tollgate`: the vendor's issuing authority and the host's license manager on the command
//! line. See `tollgate --help`; exit codes are documented in [`exit`].

mod exit;
mod host;
mod input;
mod output;
mod ui;
mod vendor;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tollgate software licensing: vendor and host commands.
///
/// Exit codes: 0 success; 1 `host check` says no; 2 bad command line; 3 artifact rejected
/// (malformed, tampered, wrong product or machine, expired); 4 host state refused (superseded
/// request, deactivated, clock rollback); 5 vendor ledger refused (unknown key, seats
/// exhausted, replayed code); 6 I/O or storage failure.
#[derive(Parser, Debug)]
#[command(name = "tollgate", version, about, long_about)]
struct Cli {
    /// Print results (and errors, on standard error) as JSON.
    #[arg(long, global = true)]
    json: bool,
    /// Use this time (Unix seconds or YYYY-MM-DD) instead of the system clock: for support
    /// and tests only.
    #[arg(long, global = true, env = "TOLLGATE_NOW", hide = true)]
    now: Option<String>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// The vendor's verbs: keys, licenses, fulfilment, deactivation, restore, upgrade, audit.
    Vendor(vendor::VendorArgs),
    /// The host's verbs: request, install, status, check, deactivate, fingerprint, verify.
    Host(host::HostArgs),
}

fn system_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = output::Out { json: cli.json };
    let fixed = match cli.now.as_deref().map(input::parse_time).transpose() {
        Ok(n) => n,
        Err(f) => return f.report(cli.json),
    };
    let now = fixed.unwrap_or_else(system_now);
    let result = match cli.cmd {
        Cmd::Vendor(args) => vendor::run(args, &out, now).map(|()| 0),
        Cmd::Host(args) => host::run(args, &out, now, fixed.is_some()),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(f) => f.report(cli.json),
    }
}
