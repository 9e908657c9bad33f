//! `tollgate-server`: the online activation service.
//!
//! ```text
//! tollgate-server [--config FILE] [--init]
//! ```
//!
//! Reads the configuration (file, then `TOLLGATE_*` variables; see the crate docs), opens the
//! ledger and serves until SIGTERM or ctrl-c, then finishes the requests in flight.
//! `--init` first creates the vendor signing key when the ledger has none.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tollgate_authority::Authority;
use tollgate_server::{init_logging, shutdown_signal, Config, Server, StartError};

/// The Tollgate online activation service.
#[derive(Parser, Debug)]
#[command(name = "tollgate-server", version)]
struct Args {
    /// The configuration file (TOML).
    #[arg(long, env = "TOLLGATE_CONFIG")]
    config: Option<PathBuf>,
    /// Create the vendor signing key if the ledger has none, then serve.
    #[arg(long)]
    init: bool,
}

fn init_key(config: &Config) -> Result<(), StartError> {
    let mut a = match &config.database_url {
        Some(url) => Authority::open_postgres(&config.data_dir, url.expose(), Default::default())?,
        None => Authority::open(&config.data_dir)?,
    };
    if a.active_key_id()?.is_none() {
        let k = a.create_signing_key(tollgate_server::store::unix_now())?;
        tracing::info!(key_id = %k.key_id.to_hex(), "signing key created");
    }
    Ok(())
}

fn run(args: Args) -> Result<(), StartError> {
    let config = Config::load(args.config.as_deref())?;
    init_logging(config.log_format);
    tollgate_service_kit::raise_nofile_limit(&config.connections.limits());
    if args.init {
        init_key(&config)?;
    }
    let listener = std::net::TcpListener::bind(config.listen)?;
    let addr = listener.local_addr()?;
    let tls = config.tls.is_some();
    let server = Server::open(config)?;
    tracing::info!(%addr, tls, backend = server.state().store.backend(), "listening");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(server.serve(listener, shutdown_signal()))
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "cannot serve");
            eprintln!("tollgate-server: {e}");
            ExitCode::FAILURE
        }
    }
}
