//! Configuration pieces every service shares: [`Secret`], [`Tls`], [`RateLimit`],
//! [`LogFormat`], [`ConfigError`], reading the TOML file ([`read_toml`]), the environment
//! overlay ([`EnvOverlay`]) and the admin token ([`admin_token`]).
//!
//! Each service keeps its own `Config` struct and table of variables; the parsing, the
//! both-or-neither TLS rule, secrets and the admin token file are written here once.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::de::DeserializeOwned;
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

/// Connection limits (see [`crate::limits`]): caps on concurrent connections overall and per
/// client address, the header-read timeout and the idle timeout.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct Connections {
    /// Concurrent connections overall. Default 768 (under the common 1024 open-files limit).
    pub max_connections: usize,
    /// Concurrent connections from one client address. Default 64.
    pub max_per_address: usize,
    /// Longest wait for a request's headers, in seconds. Default 10.
    pub header_read_timeout_secs: u64,
    /// A connection on which nothing arrives for this long is closed, in seconds. Default 60.
    pub idle_timeout_secs: u64,
}

impl Default for Connections {
    fn default() -> Self {
        let d = crate::limits::ConnLimits::default();
        Connections {
            max_connections: d.max_connections,
            max_per_address: d.max_per_address,
            header_read_timeout_secs: d.header_read_timeout.as_secs(),
            idle_timeout_secs: d.idle_timeout.as_secs(),
        }
    }
}

impl Connections {
    /// The limits to enforce (each at least 1).
    pub fn limits(&self) -> crate::limits::ConnLimits {
        crate::limits::ConnLimits {
            max_connections: self.max_connections.max(1),
            max_per_address: self.max_per_address.max(1),
            header_read_timeout: std::time::Duration::from_secs(
                self.header_read_timeout_secs.max(1),
            ),
            idle_timeout: std::time::Duration::from_secs(self.idle_timeout_secs.max(1)),
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

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {0}")]
pub struct ConfigError(String);

impl ConfigError {
    /// A configuration error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ConfigError(message.into())
    }
}

/// Reads and parses the TOML file `file`, or gives `T::default()` without one.
pub fn read_toml<T: DeserializeOwned + Default>(file: Option<&Path>) -> Result<T, ConfigError> {
    match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError(format!("cannot read {}: {e}", path.display())))?;
            toml::from_str(&text).map_err(|e| ConfigError(e.to_string()))
        }
        None => Ok(T::default()),
    }
}

/// Environment variables laid over a configuration, read through a function (the process
/// environment, or a map in tests). Each method applies one variable when it is set.
pub struct EnvOverlay<F: Fn(&str) -> Option<String>> {
    var: F,
}

impl<F: Fn(&str) -> Option<String>> EnvOverlay<F> {
    /// An overlay reading variables through `var`.
    pub fn new(var: F) -> Self {
        EnvOverlay { var }
    }

    /// The raw value of `name`.
    pub fn get(&self, name: &str) -> Option<String> {
        (self.var)(name)
    }

    /// `name` parsed (surrounding blanks ignored) into `field`.
    pub fn parse<T: FromStr>(&self, name: &str, field: &mut T) -> Result<(), ConfigError> {
        if let Some(v) = self.get(name) {
            *field = v
                .trim()
                .parse()
                .map_err(|_| ConfigError(format!("{name}: cannot parse `{v}`")))?;
        }
        Ok(())
    }

    /// `name` as a path into `field`.
    pub fn path(&self, name: &str, field: &mut PathBuf) {
        if let Some(v) = self.get(name) {
            *field = PathBuf::from(v);
        }
    }

    /// `name` as an optional path into `field`.
    pub fn opt_path(&self, name: &str, field: &mut Option<PathBuf>) {
        if let Some(v) = self.get(name) {
            *field = Some(PathBuf::from(v));
        }
    }

    /// `name`, unless empty, as a [`Secret`] into `field`.
    pub fn secret(&self, name: &str, field: &mut Option<Secret>) {
        if let Some(v) = self.get(name).filter(|v| !v.is_empty()) {
            *field = Some(Secret(v));
        }
    }

    /// The admin token variables every service reads: `TOLLGATE_ADMIN_TOKEN` and
    /// `TOLLGATE_ADMIN_TOKEN_FILE`.
    pub fn admin_token(&self, token: &mut Option<Secret>, file: &mut Option<PathBuf>) {
        self.secret("TOLLGATE_ADMIN_TOKEN", token);
        self.opt_path("TOLLGATE_ADMIN_TOKEN_FILE", file);
    }

    /// `TOLLGATE_METRICS_TOKEN`: the bearer token `/metrics` requires (every service).
    pub fn metrics_token(&self, token: &mut Option<Secret>) {
        self.secret("TOLLGATE_METRICS_TOKEN", token);
    }

    /// `TOLLGATE_TLS_CERT` and `TOLLGATE_TLS_KEY`: both or neither.
    pub fn tls(&self, field: &mut Option<Tls>) -> Result<(), ConfigError> {
        match (self.get("TOLLGATE_TLS_CERT"), self.get("TOLLGATE_TLS_KEY")) {
            (Some(cert), Some(key)) => {
                *field = Some(Tls {
                    cert: cert.into(),
                    key: key.into(),
                });
                Ok(())
            }
            (None, None) => Ok(()),
            _ => Err(ConfigError(
                "set both TOLLGATE_TLS_CERT and TOLLGATE_TLS_KEY, or neither".into(),
            )),
        }
    }

    /// `TOLLGATE_LOG_FORMAT`: `json` or `text`.
    pub fn log_format(&self, field: &mut LogFormat) -> Result<(), ConfigError> {
        if let Some(v) = self.get("TOLLGATE_LOG_FORMAT") {
            *field = match v.trim() {
                "json" => LogFormat::Json,
                "text" => LogFormat::Text,
                _ => return Err(ConfigError(format!("TOLLGATE_LOG_FORMAT: `{v}`"))),
            };
        }
        Ok(())
    }
}

/// The admin token: `inline` if set, else the content of `file` (trailing whitespace
/// ignored), which must be at least 16 characters.
pub fn admin_token(
    inline: Option<&Secret>,
    file: Option<&Path>,
) -> Result<Option<Secret>, ConfigError> {
    if let Some(t) = inline {
        return Ok(Some(t.clone()));
    }
    let Some(path) = file else {
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

/// Refuses a `name` token (e.g. `metrics_token`) shorter than 16 characters.
pub fn check_token(name: &str, token: Option<&Secret>) -> Result<(), ConfigError> {
    match token {
        Some(t) if t.expose().len() < 16 => Err(ConfigError(format!(
            "{name} must be at least 16 characters"
        ))),
        _ => Ok(()),
    }
}

/// Refuses an inline admin token shorter than 16 characters.
pub fn check_admin_token(token: Option<&Secret>) -> Result<(), ConfigError> {
    match token {
        Some(t) if t.expose().len() < 16 => Err(ConfigError(
            "the admin token must be at least 16 characters".into(),
        )),
        _ => Ok(()),
    }
}
