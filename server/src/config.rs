//! The service's configuration: a TOML file, then environment variables over it.
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! data_dir = "/var/lib/tollgate"          # keys/ (and ledger.sqlite without database_url)
//! # database_url = "postgres://tollgate@db.internal/tollgate"
//! admin_token_file = "/etc/tollgate/admin-token"
//! metrics_token = "…"                     # /metrics needs this bearer token (default: open)
//! pool_size = 4
//! online_refresh_secs = 604800            # 7 days
//! batch_max = 256
//! shutdown_grace_secs = 30
//! log_format = "json"                      # or "text"
//!
//! [rate_limit]
//! burst = 10                               # failed key attempts allowed at once per address
//! per_minute = 10                          # and refilled at this rate
//!
//! [shop]                                  # optional: see the `shop` module
//! product = "chariot"
//!
//! [tls]
//! cert = "/etc/tollgate/cert.pem"
//! key = "/etc/tollgate/key.pem"
//!
//! [marketplace]                            # see `tollgate_server::marketplace`
//! aws_certificates = ["/etc/tollgate/aws-us-east-1.pem"]
//! [[marketplace.products]]
//! cloud = "aws"
//! code = "6n2l0ypdkezisk6gnr8wuh1sl"
//! license_id = 12
//! ```
//!
//! | variable | overrides |
//! |---|---|
//! | `TOLLGATE_LISTEN` | `listen` |
//! | `TOLLGATE_DATA_DIR` | `data_dir` |
//! | `TOLLGATE_DATABASE_URL` | `database_url` |
//! | `TOLLGATE_ADMIN_TOKEN` | `admin_token` |
//! | `TOLLGATE_ADMIN_TOKEN_FILE` | `admin_token_file` |
//! | `TOLLGATE_METRICS_TOKEN` | `metrics_token` |
//! | `TOLLGATE_POOL_SIZE` | `pool_size` |
//! | `TOLLGATE_REFRESH_SECS` | `online_refresh_secs` |
//! | `TOLLGATE_BATCH_MAX` | `batch_max` |
//! | `TOLLGATE_RATE_BURST`, `TOLLGATE_RATE_PER_MINUTE` | `rate_limit.*` |
//! | `TOLLGATE_TLS_CERT`, `TOLLGATE_TLS_KEY` | `tls.*` |
//! | `TOLLGATE_LOG_FORMAT` | `log_format` |
//! | `TOLLGATE_LOG` | the log filter (default `info`) |
//!
//! The admin and metrics tokens and the database URL (which may hold a password) are [`Secret`]s: their
//! `Debug` prints `<redacted>`, so the configuration can be logged.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tollgate_service_kit::config::{
    admin_token, check_admin_token, check_token, read_toml, EnvOverlay,
};
pub use tollgate_service_kit::config::{
    ConfigError, Connections, LogFormat, RateLimit, Secret, Tls,
};

/// The whole configuration. Build it with [`Config::load`] (file + environment) or set the
/// fields directly (tests, embedding).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address to listen on. Default `127.0.0.1:8443`.
    pub listen: SocketAddr,
    /// The vendor state directory: `keys/` and, without `database_url`, `ledger.sqlite`.
    pub data_dir: PathBuf,
    /// A PostgreSQL URL: the ledger lives there instead of SQLite.
    pub database_url: Option<Secret>,
    /// The admin API's bearer token. Without it (and without `admin_token_file`) the admin API
    /// refuses every call.
    pub admin_token: Option<Secret>,
    /// A file holding the admin token (trailing whitespace ignored).
    pub admin_token_file: Option<PathBuf>,
    /// The bearer token `GET /metrics` requires (at least 16 characters); without it
    /// `/metrics` is open, as `/healthz` is.
    pub metrics_token: Option<Secret>,
    /// Ledger connections for reads, deactivations and admin calls (the group-commit writer
    /// has one more). Default 4.
    pub pool_size: usize,
    /// Refresh deadline of online usage licenses, in seconds after issue. Default 7 days.
    pub online_refresh_secs: u64,
    /// Most activations committed in one transaction. Default 256.
    pub batch_max: usize,
    /// Failed-attempt rate limit.
    pub rate_limit: RateLimit,
    /// Serve HTTPS with this certificate.
    pub tls: Option<Tls>,
    /// How long a shutdown waits for requests in flight. Default 30 s.
    pub shutdown_grace_secs: u64,
    /// Log line format.
    pub log_format: LogFormat,
    /// Connection limits: caps overall and per address, header-read and idle timeouts.
    pub connections: Connections,
    /// Marketplace activation: the cloud certificates and product codes
    /// ([`crate::marketplace`]). Without it `/v1/marketplace/*` refuses with 380.
    pub marketplace: Option<crate::marketplace::MarketplaceConfig>,
    /// The shop (catalogue, Stripe, mail): see [`crate::shop`]. Without it the shop's routes
    /// answer 354 `ShopClosed`.
    pub shop: Option<crate::shop::ShopConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("tollgate-vendor"),
            database_url: None,
            admin_token: None,
            admin_token_file: None,
            metrics_token: None,
            pool_size: 4,
            online_refresh_secs: 7 * 24 * 3600,
            batch_max: 256,
            rate_limit: RateLimit::default(),
            tls: None,
            shutdown_grace_secs: 30,
            log_format: LogFormat::Json,
            connections: Connections::default(),
            marketplace: None,
            shop: None,
        }
    }
}

impl Config {
    /// Reads `file` (if given) and applies the `TOLLGATE_*` environment variables over it.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg: Config = read_toml(file)?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::new(e.to_string()))
    }

    /// Applies environment variables, read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let env = EnvOverlay::new(var);
        env.parse("TOLLGATE_LISTEN", &mut self.listen)?;
        env.path("TOLLGATE_DATA_DIR", &mut self.data_dir);
        env.secret("TOLLGATE_DATABASE_URL", &mut self.database_url);
        env.admin_token(&mut self.admin_token, &mut self.admin_token_file);
        env.metrics_token(&mut self.metrics_token);
        env.parse("TOLLGATE_POOL_SIZE", &mut self.pool_size)?;
        env.parse("TOLLGATE_REFRESH_SECS", &mut self.online_refresh_secs)?;
        env.parse("TOLLGATE_BATCH_MAX", &mut self.batch_max)?;
        env.parse("TOLLGATE_RATE_BURST", &mut self.rate_limit.burst)?;
        env.parse("TOLLGATE_RATE_PER_MINUTE", &mut self.rate_limit.per_minute)?;
        env.tls(&mut self.tls)?;
        env.log_format(&mut self.log_format)
    }

    /// Checks the values and resolves the admin token (reading `admin_token_file`).
    pub fn admin_token(&self) -> Result<Option<Secret>, ConfigError> {
        admin_token(self.admin_token.as_ref(), self.admin_token_file.as_deref())
    }

    /// Checks the values that must be in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.pool_size == 0 || self.pool_size > 256 {
            return Err(ConfigError::new("pool_size must be 1-256"));
        }
        if self.batch_max == 0 {
            return Err(ConfigError::new("batch_max must be at least 1"));
        }
        if self.online_refresh_secs < 2 {
            return Err(ConfigError::new("online_refresh_secs must be at least 2"));
        }
        if self.rate_limit.burst == 0 {
            return Err(ConfigError::new("rate_limit.burst must be at least 1"));
        }
        if let Some(shop) = &self.shop {
            shop.validate()?;
        }
        check_token("metrics_token", self.metrics_token.as_ref())?;
        check_admin_token(self.admin_token.as_ref())
    }

    /// How long a shutdown waits for requests in flight.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn file_then_environment() {
        let mut cfg = Config::from_toml(
            r#"
            listen = "0.0.0.0:9000"
            data_dir = "/srv/tollgate"
            admin_token = "file-token-0123456789"
            [rate_limit]
            burst = 3
            "#,
        )
        .unwrap();
        assert_eq!(cfg.listen.port(), 9000);
        assert_eq!(cfg.rate_limit.burst, 3);
        assert_eq!(cfg.rate_limit.per_minute, 10);
        cfg.apply_env(|k| match k {
            "TOLLGATE_LISTEN" => Some("127.0.0.1:7000".into()),
            "TOLLGATE_DATABASE_URL" => Some("postgres://u:hunter2@db/t".into()),
            "TOLLGATE_POOL_SIZE" => Some("8".into()),
            "TOLLGATE_METRICS_TOKEN" => Some("metrics-token-0123456789".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.listen.port(), 7000);
        assert_eq!(
            cfg.metrics_token.as_ref().map(Secret::expose),
            Some("metrics-token-0123456789")
        );
        assert_eq!(cfg.pool_size, 8);
        cfg.validate().unwrap();
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2")
                && !shown.contains("file-token")
                && !shown.contains("metrics-token"),
            "{shown}"
        );
        assert_eq!(
            cfg.admin_token().unwrap().unwrap().expose(),
            "file-token-0123456789"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(Config::from_toml("nonsense = 1").is_err());
        let mut cfg = Config::default();
        assert!(cfg
            .apply_env(|k| (k == "TOLLGATE_POOL_SIZE").then(|| "many".into()))
            .is_err());
        cfg.pool_size = 0;
        assert!(cfg.validate().is_err());
        let mut cfg = Config::default();
        assert!(cfg
            .apply_env(|k| (k == "TOLLGATE_TLS_CERT").then(|| "c.pem".into()))
            .is_err());
        cfg.admin_token = Some(Secret::new("short"));
        assert!(cfg.validate().is_err());
        let cfg = Config {
            metrics_token: Some(Secret::new("short")),
            ..Config::default()
        };
        assert_eq!(
            cfg.validate().unwrap_err().to_string(),
            "configuration: metrics_token must be at least 16 characters"
        );
    }
}
