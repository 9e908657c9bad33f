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
//! | `POST /v1/marketplace/activate`, `/refresh` | a cloud instance's signed identity + usage request in, online usage license out ([`marketplace`]) |
//! | `POST /v1/offline/fulfil` | usage request in, offline usage license out (as `tollgate vendor fulfil`) |
//! | `GET /v1/keys` | the vendor public keys, for host configurations |
//! | `/v1/shop/…` | the shop: offers, purchases through Stripe Checkout, their status, Stripe's webhook ([`shop`]) |
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
mod console;
pub mod dto;
pub mod marketplace;
pub mod refusal;
pub mod shop;
pub mod store;
pub mod usage;

use std::future::Future;
use std::sync::Arc;

use tollgate_authority::AuthorityError;
use tollgate_service_kit::http::{AdminAuth, OptionalBearer};
use tollgate_service_kit::Background;

pub use api::{router, AppState, Route, OPENAPI, ROUTES};
pub use config::{Config, ConfigError, LogFormat, RateLimit, Secret, Tls};
pub use tollgate_service_kit::{init_logging, shutdown_signal, ApiError, Metrics};

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is unusable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The ledger could not be opened.
    #[error("ledger: {0}")]
    Ledger(#[from] AuthorityError),
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
        let marketplace = match &config.marketplace {
            Some(m) => Some(
                marketplace::Marketplace::load(m.clone())
                    .map_err(|e| ConfigError::new(format!("marketplace: {e}")))?,
            ),
            None => None,
        };
        let shop = config
            .shop
            .clone()
            .map(shop::Shop::new)
            .transpose()?
            .map(Arc::new);
        let store = store::Store::open(&config, Arc::clone(&metrics))?;
        let state = Arc::new(AppState {
            store,
            observer: Arc::new(api::observer(
                Arc::clone(&metrics),
                tollgate_service_kit::Limiter::new(config.rate_limit),
            )),
            metrics,
            shop,
            admin: Arc::new(AdminAuth::new(token.as_ref())),
            marketplace,
            metrics_auth: Arc::new(OptionalBearer::new(
                config.metrics_token.as_ref(),
                "metrics",
            )),
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
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let sweep = self
            .config
            .marketplace
            .as_ref()
            .filter(|m| m.sweep_interval_secs > 0)
            .map(|m| {
                tokio::spawn(marketplace::sweep_task(
                    Arc::clone(&self.state),
                    std::time::Duration::from_secs(m.sweep_interval_secs),
                    stop_rx,
                ))
            });
        let forwarder = self
            .config
            .shop
            .as_ref()
            .filter(|s| s.meter_interval_secs > 0)
            .map(|s| {
                tokio::spawn(usage::forward_task(
                    Arc::clone(&self.state),
                    std::time::Duration::from_secs(s.meter_interval_secs),
                    stop_tx.subscribe(),
                ))
            });
        let shutdown = async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        };
        let served = tollgate_service_kit::serve::serve_limited(
            listener,
            router(Arc::clone(&self.state)),
            self.config.tls.as_ref(),
            self.config.shutdown_grace(),
            tollgate_service_kit::ConnGuard::new(self.config.connections.limits()),
            shutdown,
        )
        .await;
        if let Some(sweep) = sweep {
            // Told to stop with the shutdown; a sweep in progress finishes first.
            let _ = sweep.await;
        }
        if let Some(forwarder) = forwarder {
            let _ = forwarder.await;
        }
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
        let state = Arc::clone(&self.state);
        Ok(Background::start(
            "tollgate-server",
            listener,
            state,
            move |l, stop| self.serve(l, stop),
        )?)
    }
}

/// A server running on a background thread (see [`Server::start`]): its address, its state
/// (`state().metrics` in tests), and [`Background::stop`]. Dropping it stops it.
pub type Running = Background<StartError, AppState>;
