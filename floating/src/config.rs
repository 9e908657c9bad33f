//! The floating server's configuration: a TOML file, then environment variables over it.
//!
//! ```toml
//! listen = "0.0.0.0:8444"
//! state_dir = "/var/lib/tollgate-floating"   # license state and floating.sqlite
//! host_config = "/etc/tollgate/host.json"    # product, fingerprint salt, vendor keys
//! components = ["operator=plant-7-license-server"]   # extra fingerprint components
//! probes = true                              # probe the machine's fingerprint
//! lease_ttl_secs = 60                        # a lease ends this long after its last heartbeat
//! cull_interval_secs = 5                     # how often ended leases are reclaimed
//! flush_interval_ms = 1000                   # how often renewed leases are written
//! clock_tolerance_secs = 2                   # how far the clock may step back
//! admin_token_file = "/etc/tollgate/floating-admin-token"
//! metrics_token = "…"                        # /metrics needs this bearer token (default: open)
//! checkout_token = "…"                       # clients need this bearer token (default: open)
//! log_format = "json"
//! # High availability (see the crate docs): two instances, one PostgreSQL.
//! # database_url = "postgres://tollgate@db.internal/floating"
//! # advertise_url = "https://floating-a.plant-7:8444"  # what the standby tells clients
//! # leader_ttl_secs = 6                               # a dead active is replaced this fast
//!
//! [tls]
//! cert = "/etc/tollgate/cert.pem"
//! key = "/etc/tollgate/key.pem"
//! ```
//!
//! | variable | overrides |
//! |---|---|
//! | `TOLLGATE_FLOATING_LISTEN` | `listen` |
//! | `TOLLGATE_FLOATING_STATE_DIR` | `state_dir` |
//! | `TOLLGATE_HOST_CONFIG` | `host_config` |
//! | `TOLLGATE_FLOATING_COMPONENTS` | `components` (`kind=value;kind=value`) |
//! | `TOLLGATE_FLOATING_PROBES` | `probes` (`0` or `1`) |
//! | `TOLLGATE_FLOATING_LEASE_TTL` | `lease_ttl_secs` |
//! | `TOLLGATE_FLOATING_CULL_INTERVAL` | `cull_interval_secs` |
//! | `TOLLGATE_FLOATING_FLUSH_MS` | `flush_interval_ms` |
//! | `TOLLGATE_FLOATING_DATABASE_URL` | `database_url` |
//! | `TOLLGATE_FLOATING_ADVERTISE_URL` | `advertise_url` |
//! | `TOLLGATE_FLOATING_LEADER_TTL` | `leader_ttl_secs` |
//! | `TOLLGATE_ADMIN_TOKEN`, `TOLLGATE_ADMIN_TOKEN_FILE` | `admin_token`, `admin_token_file` |
//! | `TOLLGATE_METRICS_TOKEN` | `metrics_token` |
//! | `TOLLGATE_FLOATING_CHECKOUT_TOKEN` | `checkout_token` |
//! | `TOLLGATE_TLS_CERT`, `TOLLGATE_TLS_KEY` | `tls.*` |
//! | `TOLLGATE_LOG_FORMAT` | `log_format` |
//! | `TOLLGATE_LOG` | the log filter (default `info`) |

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use tollgate_core::lease::MAX_LEASE_SECS;
use tollgate_core::ComponentKind;
use tollgate_sdk::HostConfig;

use tollgate_service_kit::config::{
    admin_token, check_admin_token, check_token, read_toml, ConfigError, Connections, EnvOverlay,
    LogFormat, RateLimit, Secret, Tls,
};

/// The floating server's configuration. Build it with [`FloatingConfig::load`] or set the
/// fields directly (tests, embedding).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct FloatingConfig {
    /// Address to listen on. Default `127.0.0.1:8444`.
    pub listen: SocketAddr,
    /// The server's license state (its activation, device key) and `floating.sqlite`.
    pub state_dir: PathBuf,
    /// The product's host configuration (`tollgate vendor host-config`): product, fingerprint
    /// salt, vendor keys. Required.
    pub host_config: Option<PathBuf>,
    /// Fingerprint components the operator adds, as `kind=value` (e.g.
    /// `operator=plant-7`); kinds as in `core/SPEC.md` §11.1.
    pub components: Vec<String>,
    /// Whether to probe the machine's fingerprint (machine id, disks, NICs…). Default true.
    pub probes: bool,
    /// A lease ends this long after it was last renewed. Default 60 s; 2 s – 1 hour.
    pub lease_ttl_secs: u64,
    /// How often ended leases are reclaimed. Default 5 s.
    pub cull_interval_secs: u64,
    /// How often the ends of renewed leases are written (see `persist.rs`). Default 1000 ms.
    pub flush_interval_ms: u64,
    /// How far the clock may step back before the server stops issuing leases. Default 2 s.
    pub clock_tolerance_secs: u64,
    /// The admin API's bearer token; without it (and `admin_token_file`) the admin API
    /// refuses every call.
    pub admin_token: Option<Secret>,
    /// A file holding the admin token.
    pub admin_token_file: Option<PathBuf>,
    /// The bearer token `GET /metrics` requires (at least 16 characters); without it
    /// `/metrics` is open, as `/healthz` is.
    pub metrics_token: Option<Secret>,
    /// A token shared with the clients (at least 16 characters): checkouts, heartbeats and
    /// releases then need `Authorization: Bearer <checkout_token>` (401 otherwise; wrong tokens
    /// are rate-limited per address), so a rogue machine on the network cannot take the seats.
    /// Without it (the default) any client that reaches the server may check out.
    pub checkout_token: Option<Secret>,
    /// Most writes committed in one transaction. Default 512.
    pub batch_max: usize,
    /// Failed-attempt rate limit (admin token guesses).
    pub rate_limit: RateLimit,
    /// Serve HTTPS with this certificate.
    pub tls: Option<Tls>,
    /// How long a shutdown waits for requests in flight. Default 10 s.
    pub shutdown_grace_secs: u64,
    /// Log line format.
    pub log_format: LogFormat,
    /// Connection limits: caps overall and per address, header-read and idle timeouts.
    pub connections: Connections,
    /// Keep the leases in this PostgreSQL database instead of `state_dir/floating.sqlite`,
    /// and run as one of an active/standby pair (see the crate docs). Default: none (SQLite,
    /// one instance).
    pub database_url: Option<Secret>,
    /// The URL clients reach this instance at; the active records it in the leader row so
    /// that the standby can name it in its `Standby` (347) refusals. Default: none.
    pub advertise_url: Option<String>,
    /// With `database_url`: how long the active's leadership lasts unless renewed (renewed
    /// every third of it); a standby takes over at most this long after the active died.
    /// Default 6 s; 2 s – 300 s.
    pub leader_ttl_secs: u64,
}

impl Default for FloatingConfig {
    fn default() -> Self {
        FloatingConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8444)),
            state_dir: PathBuf::from("tollgate-floating"),
            host_config: None,
            components: Vec::new(),
            probes: true,
            lease_ttl_secs: 60,
            cull_interval_secs: 5,
            flush_interval_ms: 1000,
            clock_tolerance_secs: 2,
            admin_token: None,
            admin_token_file: None,
            metrics_token: None,
            checkout_token: None,
            batch_max: 512,
            rate_limit: RateLimit::default(),
            tls: None,
            shutdown_grace_secs: 10,
            log_format: LogFormat::Json,
            connections: Connections::default(),
            database_url: None,
            advertise_url: None,
            leader_ttl_secs: 6,
        }
    }
}

fn err(msg: impl Into<String>) -> ConfigError {
    ConfigError::new(msg)
}

impl FloatingConfig {
    /// Reads `file` (if given) and applies the environment variables over it.
    pub fn load(file: Option<&Path>) -> Result<Self, ConfigError> {
        let mut cfg: FloatingConfig = read_toml(file)?;
        cfg.apply_env(|k| std::env::var(k).ok())?;
        Ok(cfg)
    }

    /// Applies environment variables, read through `var`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let env = EnvOverlay::new(var);
        env.parse("TOLLGATE_FLOATING_LISTEN", &mut self.listen)?;
        env.path("TOLLGATE_FLOATING_STATE_DIR", &mut self.state_dir);
        env.opt_path("TOLLGATE_HOST_CONFIG", &mut self.host_config);
        if let Some(v) = env.get("TOLLGATE_FLOATING_COMPONENTS") {
            self.components = v
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect();
        }
        if let Some(v) = env.get("TOLLGATE_FLOATING_PROBES") {
            self.probes = !matches!(v.trim(), "0" | "false" | "no");
        }
        env.parse("TOLLGATE_FLOATING_LEASE_TTL", &mut self.lease_ttl_secs)?;
        env.parse(
            "TOLLGATE_FLOATING_CULL_INTERVAL",
            &mut self.cull_interval_secs,
        )?;
        env.parse("TOLLGATE_FLOATING_FLUSH_MS", &mut self.flush_interval_ms)?;
        env.secret("TOLLGATE_FLOATING_DATABASE_URL", &mut self.database_url);
        if let Some(v) = env.get("TOLLGATE_FLOATING_ADVERTISE_URL") {
            self.advertise_url = Some(v);
        }
        env.parse("TOLLGATE_FLOATING_LEADER_TTL", &mut self.leader_ttl_secs)?;
        env.admin_token(&mut self.admin_token, &mut self.admin_token_file);
        env.metrics_token(&mut self.metrics_token);
        env.secret("TOLLGATE_FLOATING_CHECKOUT_TOKEN", &mut self.checkout_token);
        env.tls(&mut self.tls)?;
        env.log_format(&mut self.log_format)
    }

    /// Checks the values that must be in range.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(2..=MAX_LEASE_SECS).contains(&self.lease_ttl_secs) {
            return Err(err(format!("lease_ttl_secs must be 2-{MAX_LEASE_SECS}")));
        }
        if self.cull_interval_secs == 0 || self.flush_interval_ms == 0 || self.batch_max == 0 {
            return Err(err(
                "cull_interval_secs, flush_interval_ms and batch_max must be at least 1",
            ));
        }
        if !(2..=300).contains(&self.leader_ttl_secs) {
            return Err(err("leader_ttl_secs must be 2-300"));
        }
        // A failover takes up to a leader TTL and a third: the brokers must ride it out on the
        // tokens they hold.
        if self.database_url.is_some()
            && self.lease_ttl_secs <= self.leader_ttl_secs + self.leader_ttl_secs.div_ceil(3)
        {
            return Err(err(
                "with database_url, lease_ttl_secs must exceed leader_ttl_secs by more than a \
                 third of it (a failover must fit in one lease)",
            ));
        }
        check_token("metrics_token", self.metrics_token.as_ref())?;
        check_token("checkout_token", self.checkout_token.as_ref())?;
        check_admin_token(self.admin_token.as_ref())
    }

    /// The admin token, from `admin_token` or `admin_token_file`.
    pub fn admin_token(&self) -> Result<Option<Secret>, ConfigError> {
        admin_token(self.admin_token.as_ref(), self.admin_token_file.as_deref())
    }

    /// The host configuration: `host_config` read, with `probes` and `components` applied.
    pub fn host(&self) -> Result<HostConfig, ConfigError> {
        let path = self
            .host_config
            .as_ref()
            .ok_or_else(|| err("host_config (TOLLGATE_HOST_CONFIG) is required"))?;
        let text = std::fs::read_to_string(path)
            .map_err(|e| err(format!("cannot read {}: {e}", path.display())))?;
        // The root is compiled in (TOLLGATE_VENDOR_ROOT when this server was built).
        let root = tollgate_sdk::build_vendor_root().map_err(|e| err(e.to_string()))?;
        let mut host = HostConfig::from_json(&text, root).map_err(|e| err(e.to_string()))?;
        host.role = tollgate_sdk::HostRole::FloatingServer;
        host.fingerprint.probes = self.probes;
        host.fingerprint.extra = parse_components(&self.components)?;
        Ok(host)
    }

    /// The lease TTL.
    pub fn ttl(&self) -> u64 {
        self.lease_ttl_secs
    }

    /// The flush interval.
    pub fn flush_interval(&self) -> Duration {
        Duration::from_millis(self.flush_interval_ms)
    }

    /// The database file.
    pub fn database(&self) -> PathBuf {
        self.state_dir.join("floating.sqlite")
    }
}

/// Parses `kind=value` fingerprint components (kinds by name: `machine-id`, `hostname`,
/// `operator`, …).
pub fn parse_components(items: &[String]) -> Result<Vec<(ComponentKind, Vec<u8>)>, ConfigError> {
    items
        .iter()
        .map(|item| {
            let (kind, value) = item
                .split_once('=')
                .ok_or_else(|| err(format!("component `{item}`: expected kind=value")))?;
            let kind = ComponentKind::ALL
                .into_iter()
                .find(|k| k.name() == kind.trim())
                .ok_or_else(|| err(format!("component `{item}`: unknown kind `{kind}`")))?;
            Ok((kind, value.as_bytes().to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn file_then_environment() {
        let mut cfg: FloatingConfig = toml::from_str(
            r#"
            listen = "0.0.0.0:9444"
            lease_ttl_secs = 30
            components = ["operator=x"]
            "#,
        )
        .unwrap();
        cfg.apply_env(|k| match k {
            "TOLLGATE_FLOATING_LEASE_TTL" => Some("10".into()),
            "TOLLGATE_FLOATING_COMPONENTS" => Some("operator=y; hostname=h".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(cfg.listen.port(), 9444);
        assert_eq!(cfg.lease_ttl_secs, 10);
        assert_eq!(parse_components(&cfg.components).unwrap().len(), 2);
        cfg.validate().unwrap();
        cfg.lease_ttl_secs = 1;
        assert!(cfg.validate().is_err());

        let mut pair: FloatingConfig = toml::from_str(
            r#"
            database_url = "postgres://floating@db/pool"
            advertise_url = "http://a:8444"
            lease_ttl_secs = 8
            "#,
        )
        .unwrap();
        pair.apply_env(|k| match k {
            "TOLLGATE_FLOATING_DATABASE_URL" => Some("postgres://floating@db2/pool".into()),
            "TOLLGATE_FLOATING_LEADER_TTL" => Some("4".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(
            pair.database_url.as_ref().unwrap().expose(),
            "postgres://floating@db2/pool"
        );
        assert_eq!(pair.advertise_url.as_deref(), Some("http://a:8444"));
        assert_eq!(pair.leader_ttl_secs, 4);
        pair.validate().unwrap();
        pair.lease_ttl_secs = 6; // 4 s + a third does not fit in 6 s with room
        assert!(pair.validate().is_err());
        pair.database_url = None;
        pair.validate().unwrap();
        pair.leader_ttl_secs = 1;
        assert!(pair.validate().is_err());
        assert!(parse_components(&["nope=1".into()]).is_err());
    }
}
