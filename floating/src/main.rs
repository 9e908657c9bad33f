//! `tollgate-floating`: the floating license server, its activation, and a test client.
//!
//! ```text
//! tollgate-floating serve   [--config FILE]            # serve until SIGTERM / ctrl-c
//! tollgate-floating request [--config FILE] --key KEY  # the server's usage request (TGRQ)
//! tollgate-floating install [--config FILE] FILE|-     # install the vendor's floating usage license
//! tollgate-floating status  [--config FILE]            # the server's license status (JSON)
//! tollgate-floating client  --server URL[,URL] --host-config FILE --feature NAME…
//!                           [--instance I] [--name N] [--component kind=value]… [--no-probes]
//!                           [--hold SECS] [--borrow SECS]
//! ```
//!
//! `serve`, `request`, `install` and `status` read the configuration (file, then
//! `TOLLGATE_FLOATING_*` variables; see `tollgate_floating::config`). The activation is
//! the offline round trip: `request` prints a usage request for the vendor, who fulfils it for
//! the floating model (`tollgate vendor fulfil --model floating`); `install` installs the answer.
//! While the server runs, its state directory is locked: use the admin API
//! (`/v1/floating/admin/license/…`) instead.
//!
//! `client` is a broker in miniature: it checks out the features, renews the lease until told
//! to stop (SIGTERM, ctrl-c, or `--hold` seconds), prints each event as a JSON line, and
//! releases the lease on the way out. `--borrow` borrows instead and prints the lease.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use serde_json::json;
use tollgate_floating::config::parse_components;
use tollgate_floating::{FloatingConfig, FloatingServer};
use tollgate_sdk::{FloatingClient, FloatingConfig as ClientConfig, HostConfig, LeaseEvent};
use tollgate_service_kit::{init_logging, shutdown_signal};

/// The Tollgate floating license server.
#[derive(Parser, Debug)]
#[command(name = "tollgate-floating", version)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve until SIGTERM or ctrl-c.
    Serve {
        /// The configuration file (TOML).
        #[arg(long, env = "TOLLGATE_FLOATING_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Print the server's usage request (for the vendor to fulfil for the floating model).
    Request {
        /// The configuration file (TOML).
        #[arg(long, env = "TOLLGATE_FLOATING_CONFIG")]
        config: Option<PathBuf>,
        /// The license key of the floating license.
        #[arg(long)]
        key: String,
    },
    /// Install the vendor's floating usage license.
    Install {
        /// The configuration file (TOML).
        #[arg(long, env = "TOLLGATE_FLOATING_CONFIG")]
        config: Option<PathBuf>,
        /// A file holding the usage license, `-` for standard input, or the text itself.
        usage_license: String,
    },
    /// Print the server's license status (JSON).
    Status {
        /// The configuration file (TOML).
        #[arg(long, env = "TOLLGATE_FLOATING_CONFIG")]
        config: Option<PathBuf>,
    },
    /// Check out features like a broker, renew until stopped, release.
    Client {
        /// The floating server's URL, or the URLs of an active/standby pair separated by a
        /// comma (the client moves to the other when one is down or the standby).
        #[arg(long)]
        server: String,
        /// The product's host configuration (JSON).
        #[arg(long, env = "TOLLGATE_HOST_CONFIG")]
        host_config: PathBuf,
        /// A feature to check out (repeat for a set).
        #[arg(long = "feature", required = true)]
        features: Vec<String>,
        /// The instance name (part of the client id).
        #[arg(long, default_value = "")]
        instance: String,
        /// A name for the server's admin view.
        #[arg(long, default_value = "")]
        name: String,
        /// A fingerprint component, `kind=value` (repeat).
        #[arg(long = "component")]
        components: Vec<String>,
        /// Do not probe the machine's fingerprint.
        #[arg(long)]
        no_probes: bool,
        /// Stop after this many seconds.
        #[arg(long)]
        hold: Option<u64>,
        /// Borrow for this many seconds instead, print the lease and exit.
        #[arg(long)]
        borrow: Option<u64>,
    },
}

fn read_text(arg: &str) -> Result<String, String> {
    if arg == "-" {
        let mut s = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut s).map_err(|e| e.to_string())?;
        return Ok(s);
    }
    if arg.trim_start().starts_with("TG") && arg.contains(':') {
        return Ok(arg.to_owned());
    }
    std::fs::read_to_string(arg).map_err(|e| format!("{arg}: {e}"))
}

fn manager(config: Option<PathBuf>) -> Result<tollgate_sdk::LicenseManager, String> {
    let cfg = FloatingConfig::load(config.as_deref()).map_err(|e| e.to_string())?;
    let host = cfg.host().map_err(|e| e.to_string())?;
    tollgate_floating::private_dir(&cfg.state_dir).map_err(|e| e.to_string())?;
    tollgate_sdk::LicenseManager::open(host, &cfg.state_dir).map_err(|e| e.to_string())
}

fn serve(config: Option<PathBuf>) -> Result<(), String> {
    let cfg = FloatingConfig::load(config.as_deref()).map_err(|e| e.to_string())?;
    init_logging(cfg.log_format);
    tollgate_service_kit::raise_nofile_limit(&cfg.connections.limits());
    let listener = std::net::TcpListener::bind(cfg.listen).map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = FloatingServer::open(cfg).map_err(|e| e.to_string())?;
    tracing::info!(%addr, "listening");
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = std::env::var("TOLLGATE_FLOATING_WORKERS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        builder.worker_threads(n);
    }
    let runtime = builder.enable_all().build().map_err(|e| e.to_string())?;
    runtime
        .block_on(server.serve(listener, shutdown_signal()))
        .map_err(|e| e.to_string())
}

fn event_json(e: &LeaseEvent) -> serde_json::Value {
    match e {
        LeaseEvent::Acquired {
            lease_id,
            expires_at,
        } => json!({"event": "acquired", "lease_id": lease_id, "expires_at": expires_at}),
        LeaseEvent::Renewed {
            lease_id,
            expires_at,
        } => json!({"event": "renewed", "lease_id": lease_id, "expires_at": expires_at}),
        LeaseEvent::RenewFailed {
            error,
            retry_in,
            expires_at,
        } => json!({"event": "renew_failed", "code": error.code(), "error": error.to_string(),
                    "retry_in_ms": retry_in.as_millis() as u64, "expires_at": expires_at}),
        LeaseEvent::Lost { error } => {
            json!({"event": "lost", "code": error.code(), "error": error.to_string()})
        }
        LeaseEvent::Released { lease_id } => json!({"event": "released", "lease_id": lease_id}),
    }
}

#[allow(clippy::too_many_arguments)]
fn client(
    server: String,
    host_config: PathBuf,
    features: Vec<String>,
    instance: String,
    name: String,
    components: Vec<String>,
    no_probes: bool,
    hold: Option<u64>,
    borrow: Option<u64>,
) -> Result<(), String> {
    let text = std::fs::read_to_string(&host_config)
        .map_err(|e| format!("{}: {e}", host_config.display()))?;
    let root = tollgate_sdk::build_vendor_root().map_err(|e| e.to_string())?;
    let mut host = HostConfig::from_json(&text, root).map_err(|e| e.to_string())?;
    // The client's fingerprint only names it to the server (its client id): no usage request
    // is made from it, so its components may be given as the operator likes.
    host.fingerprint.allow_override = true;
    host.fingerprint.probes = !no_probes;
    host.fingerprint.extra = parse_components(&components).map_err(|e| e.to_string())?;
    let mut cfg = ClientConfig::new(server, features);
    cfg.instance = instance;
    cfg.client_name = name;
    let client = FloatingClient::new(&host, cfg).map_err(|e| e.to_string())?;
    if let Some(secs) = borrow {
        let b = client.borrow(secs).map_err(|e| e.to_string())?;
        println!(
            "{}",
            json!({"event": "borrowed", "lease_id": b.lease_id, "lease": b.lease,
                   "floating_license": b.floating_license, "secret": b.secret,
                   "expires_at": b.entitlement.lease().expires_at})
        );
        return Ok(());
    }
    let lease = client
        .checkout(|e| println!("{}", event_json(e)))
        .map_err(|e| {
            println!(
                "{}",
                json!({"event": "refused", "code": e.code(), "error": e.to_string()})
            );
            e.to_string()
        })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let hold = async {
            match hold {
                Some(s) => tokio::time::sleep(Duration::from_secs(s)).await,
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            () = shutdown_signal() => {},
            () = hold => {},
        }
    });
    lease.release().map_err(|e| e.to_string())
}

fn run(args: Args) -> Result<(), String> {
    match args.command {
        Command::Serve { config } => serve(config),
        Command::Request { config, key } => {
            let mut m = manager(config)?;
            println!("{}", m.request_usage(&key).map_err(|e| e.to_string())?);
            Ok(())
        }
        Command::Install {
            config,
            usage_license,
        } => {
            let mut m = manager(config)?;
            let status = m
                .install(&read_text(&usage_license)?)
                .map_err(|e| e.to_string())?;
            m.lease_signer().map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string(&status).map_err(|e| e.to_string())?
            );
            Ok(())
        }
        Command::Status { config } => {
            let m = manager(config)?;
            println!("{}", m.status_json());
            Ok(())
        }
        Command::Client {
            server,
            host_config,
            features,
            instance,
            name,
            components,
            no_probes,
            hold,
            borrow,
        } => client(
            server,
            host_config,
            features,
            instance,
            name,
            components,
            no_probes,
            hold,
            borrow,
        ),
    }
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-floating: {e}");
            ExitCode::FAILURE
        }
    }
}
