//! The service's configuration: a TOML file, then environment variables over it.
//!
//! ```toml
//! listen = "0.0.0.0:8443"
//! data_dir = "/var/lib/tollgate"          # keys/ (and ledger.sqlite without database_url)
//! # database_url = "postgres://tollgate@db.internal/tollgate"
//! admin_token_file = "/etc/tollgate/admin-token"
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
//! [tls]
//! cert = "/etc/tollgate/cert.pem"
//! key = "/etc/tollgate/key.pem"
//! ```
//!
//! | variable | overrides |
//! |---|---|
//! | `TOLLGATE_LISTEN` | `listen` |
//! | `TOLLGATE_DATA_DIR` | `data_dir` |
//! | `TOLLGATE_DATABASE_URL` | `database_url` |
//! | `TOLLGATE_ADMIN_TOKEN` | `admin_token` |
//! | `TOLLGATE_ADMIN_TOKEN_FILE` | `admin_token_file` |
//! | `TOLLGATE_POOL_SIZE` | `pool_size` |
//! | `TOLLGATE_REFRESH_SECS` | `online_refresh_secs` |
//! | `TOLLGATE_BATCH_MAX` | `batch_max` |
//! | `TOLLGATE_RATE_BURST`, `TOLLGATE_RATE_PER_MINUTE` | `rate_limit.*` |
//! | `TOLLGATE_TLS_CERT`, `TOLLGATE_TLS_KEY` | `tls.*` |
//! | `TOLLGATE_LOG_FORMAT` | `log_format` |
//! | `TOLLGATE_LOG` | the log filter (default `info`) |
//!
//! The admin token and the database URL (which may hold a password) are [`Secret`]s: their
//! `Debug` prints `<redacted>`, so the configuration can be logged.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

/// A string that must never be printed: `Debug` and `Display` show `<redacted>`.
#[derive(Clone, Default, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The value, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// The failed-attempt rate limit per client address (a token bucket).
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimit {
    /// Failed attempts an address may make at once.
    pub burst: u32,
    /// Failed attempts it regains per minute.
    pub per_minute: u32,
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            burst: 10,
            per_minute: 10,
        }
    }
}

/// TLS certificate and key files (PEM).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Tls {
    /// The certificate chain, leaf first.
    pub cert: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

/// Log line format.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One JSON object per line (the default).
    #[default]
    Json,
    /// Human-readable lines.
    Text,
}

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
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 8443)),
            data_dir: PathBuf::from("tollgate-vendor"),
            database_url: None,
            admin_token: None,
            admin_token_file: None,
            pool_size: 4,
            online_refresh_secs: 7 * 24 * 3600,
            batch_max: 256,
            rate_limit: RateLimit::default(),
            tls: None,
            shutdown_grace_secs: 30,
            log_format: LogFormat::Json,
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// A configuration error with this message (also used by the floating server's
    /// configuration).
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

impl Config {
    /// Reads `file` (if given) and applies the `TOLLGATE_*` environment variables over it.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
                Self::from_toml(&text)?
            }
            None => Config::default(),
        };
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Parses a TOML document.
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError(e.to_string()))
    }

    /// Applies environment variables, read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &str, v: &str) -> Result<T, ConfigError> {
            v.trim()
                .parse()
                .map_err(|_| ConfigError(format!("{name}: cannot parse `{v}`")))
        }
        if let Some(v) = var("TOLLGATE_LISTEN") {
            self.listen = parse("TOLLGATE_LISTEN", &v)?;
        }
        if let Some(v) = var("TOLLGATE_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("TOLLGATE_DATABASE_URL").filter(|v| !v.is_empty()) {
            self.database_url = Some(Secret(v));
        }
        if let Some(v) = var("TOLLGATE_ADMIN_TOKEN").filter(|v| !v.is_empty()) {
            self.admin_token = Some(Secret(v));
        }
        if let Some(v) = var("TOLLGATE_ADMIN_TOKEN_FILE") {
            self.admin_token_file = Some(PathBuf::from(v));
        }
        if let Some(v) = var("TOLLGATE_POOL_SIZE") {
            self.pool_size = parse("TOLLGATE_POOL_SIZE", &v)?;
        }
        if let Some(v) = var("TOLLGATE_REFRESH_SECS") {
            self.online_refresh_secs = parse("TOLLGATE_REFRESH_SECS", &v)?;
        }
        if let Some(v) = var("TOLLGATE_BATCH_MAX") {
            self.batch_max = parse("TOLLGATE_BATCH_MAX", &v)?;
        }
        if let Some(v) = var("TOLLGATE_RATE_BURST") {
            self.rate_limit.burst = parse("TOLLGATE_RATE_BURST", &v)?;
        }
        if let Some(v) = var("TOLLGATE_RATE_PER_MINUTE") {
            self.rate_limit.per_minute = parse("TOLLGATE_RATE_PER_MINUTE", &v)?;
        }
        match (var("TOLLGATE_TLS_CERT"), var("TOLLGATE_TLS_KEY")) {
            (Some(cert), Some(key)) => {
                self.tls = Some(Tls {
                    cert: cert.into(),
                    key: key.into(),
                })
            }
            (None, None) => {}
            _ => {
                return Err(ConfigError(
                    "set both TOLLGATE_TLS_CERT and TOLLGATE_TLS_KEY, or neither".into(),
                ))
            }
        }
        if let Some(v) = var("TOLLGATE_LOG_FORMAT") {
            self.log_format = match v.trim() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                _ => return Err(ConfigError(format!("TOLLGATE_LOG_FORMAT: `{v}`"))),
            };
        }
        Ok(())
    }

    /// Checks the values and resolves the admin token (reading `admin_token_file`).
    pub fn admin_token(&self) -> Result<Option<Secret>, ConfigError> {
        if let Some(t) = &self.admin_token {
            return Ok(Some(t.clone()));
        }
        let Some(path) = &self.admin_token_file else {
            return Ok(None);
        };
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
        let token = text.trim_end();
        if token.len() < 16 {
            return Err(ConfigError(format!(
                "the admin token in {} is shorter than 16 characters",
                path.display()
            )));
        }
        Ok(Some(Secret(token.to_owned())))
    }

    /// Checks the values that must be in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.pool_size == 0 || self.pool_size > 256 {
            return Err(ConfigError("pool_size must be 1-256".into()));
        }
        if self.batch_max == 0 {
            return Err(ConfigError("batch_max must be at least 1".into()));
        }
        if self.online_refresh_secs < 2 {
            return Err(ConfigError("online_refresh_secs must be at least 2".into()));
        }
        if self.rate_limit.burst == 0 {
            return Err(ConfigError("rate_limit.burst must be at least 1".into()));
        }
        if let Some(t) = &self.admin_token {
            if t.expose().len() < 16 {
                return Err(ConfigError(
                    "the admin token must be at least 16 characters".into(),
                ));
            }
        }
        Ok(())
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
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.listen.port(), 7000);
        assert_eq!(cfg.pool_size, 8);
        cfg.validate().unwrap();
        let shown = format!("{cfg:?}");
        assert!(
            !shown.contains("hunter2") && !shown.contains("file-token"),
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
    }
}
