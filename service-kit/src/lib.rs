//! # tollgate-service-kit
//!
//! What Tollgate's HTTP services (`tollgate-server`, `tollgate-floating`) share, so a fix
//! reaches both at once: start-up and graceful shutdown ([`serve`]), TLS, configuration pieces
//! and the environment overlay ([`config`]), the error envelope ([`ApiError`]), the admin
//! bearer token check, the request pipeline ([`http`]), Prometheus metrics ([`Metrics`]) and
//! the failed-attempt rate limit ([`Limiter`]). No licensing logic lives here.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod config;
pub mod error;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod ratelimit;
pub mod serve;
#[cfg(feature = "testing")]
pub mod testing;

pub use config::{ConfigError, Connections, LogFormat, RateLimit, Secret, Tls};
pub use error::{ApiError, Outcome};
pub use limits::{raise_nofile_limit, ConnGuard, ConnLimits};
pub use metrics::Metrics;
pub use ratelimit::Limiter;
pub use serve::{init_logging, shutdown_signal, Background};
