//! # tollgate-server
//!
//! The online activation service: the vendor's [`tollgate_authority::Authority`] served over
//! HTTP. It writes no licensing logic of its own — every decision (the key proof, seats,
//! counters, refresh deadlines, deactivation codes) is the authority's; this crate converts
//! JSON, runs the authority's synchronous calls on blocking threads, batches activations into
//! group commits, and adds what a network service needs: an admin token, a failed-attempt
//! rate limit, metrics, logs, TLS and a graceful shutdown.
//!
//! | path | what |
//! |---|---|
//! | `POST /v1/activate` | usage request in, online usage license out (may take a seat) |
//! | `POST /v1/refresh` | the same activation gets the current grant and a new refresh deadline |
//! | `POST /v1/deactivate` | deactivation code in, seat freed (online or offline codes) |
//! | `POST /v1/offline/fulfil` | usage request in, offline usage license out (as `tollgate vendor fulfil`) |
//! | `GET /v1/keys` | the vendor public keys, for host configurations |
//! | `/v1/admin/…` | issue, list, show, upgrade, restore, audit (bearer token) |
//! | `GET /healthz`, `GET /metrics`, `GET /openapi.json` | operations |
//!
//! The license key never travels: a usage request carries the key's lookup id and a proof
//! (an HMAC of the host's device key under a secret derived from the key), which the
//! authority checks in constant time against the hash it stores. Over TLS the request alone
//! proves possession of the key; a captured request only ever yields a usage license bound
//! to the device key that signed it, useless without that device's private key.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut config = tollgate_server::Config::default();
//! config.data_dir = "/var/lib/tollgate".into();
//! let running = tollgate_server::Server::open(config)?.start()?;
//! println!("listening on {}", running.addr());
//! running.stop();
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod api;
pub mod config;
pub mod dto;
pub mod error;
pub mod floating;
pub mod metrics;
pub mod ratelimit;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum_server::tls_rustls::RustlsConfig;
use axum_server::Handle;
use sha2::{Digest, Sha256};
use tollgate_authority::AuthorityError;

pub use api::{router, AppState, Route, OPENAPI, ROUTES};
pub use config::{Config, ConfigError, LogFormat, RateLimit, Secret, Tls};
pub use error::ApiError;
pub use metrics::Metrics;

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ledger could not be opened.
    #[error("ledger: {0}")]
    Ledger(#[from] AuthorityError),
    /// The floating server's database could not be opened.
    #[error("database: {0}")]
    Storage(#[from] tollgate_storage::StorageError),
    /// Binding, TLS or the runtime failed.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The service, opened and ready to serve.
#[derive(Debug)]
pub struct Server {
    state: Arc<AppState>,
    config: Config,
}

impl Server {
    /// Checks `config`, opens the ledger (creating and migrating it if needed) and its
    /// connection pool, and starts the group-commit writer.
    pub fn open(config: Config) -> Result<Self, StartError> {
        config.validate()?;
        let token = config.admin_token()?;
        let metrics = Arc::new(Metrics::default());
        let store = store::Store::open(&config, Arc::clone(&metrics))?;
        let state = Arc::new(AppState {
            store,
            metrics,
            limiter: ratelimit::Limiter::new(config.rate_limit),
            admin_token_digest: token.map(|t| Sha256::digest(t.expose().as_bytes()).into()),
        });
        Ok(Server { state, config })
    }

    /// The shared state (store, metrics).
    pub fn state(&self) -> &Arc<AppState> {
        &self.state
    }

    /// Serves on `listener` until `shutdown` completes, then stops accepting, lets requests in
    /// flight finish (up to the configured grace period) and closes the ledger.
    pub async fn serve(
        self,
        listener: std::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), StartError> {
        listener.set_nonblocking(true)?;
        let app =
            router(Arc::clone(&self.state)).into_make_service_with_connect_info::<SocketAddr>();
        let handle = Handle::new();
        let grace = self.config.shutdown_grace();
        {
            let handle = handle.clone();
            tokio::spawn(async move {
                shutdown.await;
                tracing::info!("shutting down: no new connections, finishing requests in flight");
                handle.graceful_shutdown(Some(grace));
            });
        }
        let served = match &self.config.tls {
            Some(tls) => {
                let rustls = RustlsConfig::from_config(Arc::new(tls_config(tls)?));
                axum_server::from_tcp_rustls(listener, rustls)?
                    .handle(handle)
                    .serve(app)
                    .await
            }
            None => {
                axum_server::from_tcp(listener)?
                    .handle(handle)
                    .serve(app)
                    .await
            }
        };
        let state = self.state;
        tokio::task::spawn_blocking(move || state.store.close())
            .await
            .map_err(std::io::Error::other)?;
        tracing::info!("stopped");
        Ok(served?)
    }

    /// Binds `config.listen` and serves on a background thread with its own runtime: for
    /// tests, tools and embedding. [`Running::stop`] shuts it down gracefully.
    pub fn start(self) -> Result<Running, StartError> {
        let listener = std::net::TcpListener::bind(self.config.listen)?;
        self.start_on(listener)
    }

    /// [`Server::start`] on a listener already bound.
    pub fn start_on(self, listener: std::net::TcpListener) -> Result<Running, StartError> {
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name("tollgate-server")
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let state = Arc::clone(&self.state);
        let thread = std::thread::Builder::new()
            .name("tollgate-server".into())
            .spawn(move || {
                runtime.block_on(self.serve(listener, async move {
                    let _ = stopped.await;
                }))
            })?;
        Ok(Running {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            state,
        })
    }
}

/// A server running on a background thread (see [`Server::start`]). Dropping it stops it.
#[derive(Debug)]
pub struct Running {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), StartError>>>,
    state: Arc<AppState>,
}

impl Running {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (or `https://` when TLS is configured, which the caller knows).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The metrics, to look at in tests.
    pub fn metrics(&self) -> &Metrics {
        &self.state.metrics
    }

    /// Stops accepting, finishes requests in flight, closes the ledger and waits.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Err(e)) => tracing::error!(error = %e, "server failed"),
                Err(_) => tracing::error!("server thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The rustls server configuration (ring provider) for a certificate and key in PEM files.
fn tls_config(tls: &Tls) -> Result<rustls::ServerConfig, std::io::Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| bad(&tls.cert.display().to_string(), &e))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| bad(&tls.key.display().to_string(), &e))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("TLS certificate", &e))
}

/// Completes on SIGTERM or ctrl-c (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Sets up the global log subscriber: `format` lines on standard error, filtered by the
/// `TOLLGATE_LOG` variable (default `info`). Does nothing if one is already set.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
