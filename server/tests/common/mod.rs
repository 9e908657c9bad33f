//! Shared helpers: a vendor directory, the service on loopback, hosts, and admin calls.
//!
//! Every test that touches the ledger runs once per backend of [`backends`]: SQLite always,
//! PostgreSQL when `TOLLGATE_TEST_PG_URL` names a server (each test gets a fresh database).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tempfile::TempDir;
use tollgate_authority::Authority;
use tollgate_core::{
    hex_string, Component, ComponentKind, DeviceKey, Fingerprint, LicenseKey, UsageRequest,
};
use tollgate_sdk::online::{OnlineClient, OnlineConfig};
use tollgate_sdk::{HostConfig, LicenseManager, MemoryStorage, StaticSource, SystemClock};
use tollgate_server::{Config, Running, Secret, Server};

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789";

/// A ledger backend to run a test on.
#[derive(Clone, Debug)]
pub enum Backend {
    Sqlite,
    Postgres(String),
}

impl Backend {
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// SQLite, and PostgreSQL when `TOLLGATE_TEST_PG_URL` is set (a loud notice when not).
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    match std::env::var("TOLLGATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => out.push(Backend::Postgres(url)),
        _ => eprintln!(
            "\n!!! TOLLGATE_TEST_PG_URL is not set: SKIPPING the PostgreSQL half of this test \
             (scripts/test.sh starts a PostgreSQL server and sets it) !!!\n"
        ),
    }
    out
}

/// Creates an empty database on the server of `url` and returns its URL.
pub fn fresh_database(url: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let name = format!("tg_{}", hex_string(&bytes));
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

/// A vendor: its state directory and where its ledger is.
pub struct Vendor {
    pub dir: TempDir,
    pub database_url: Option<String>,
}

impl Vendor {
    /// A new vendor directory with a signing key, on `backend`.
    pub fn new(backend: &Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let database_url = match backend {
            Backend::Sqlite => None,
            Backend::Postgres(url) => Some(fresh_database(url)),
        };
        let v = Vendor { dir, database_url };
        v.authority().create_signing_key(1_700_000_000).unwrap();
        v
    }

    /// A direct connection to the ledger (what the CLI would open).
    pub fn authority(&self) -> Authority {
        match &self.database_url {
            Some(url) => {
                Authority::open_postgres(self.dir.path(), url, Default::default()).unwrap()
            }
            None => Authority::open(self.dir.path()).unwrap(),
        }
    }

    /// The service configuration for this vendor, on a free loopback port.
    pub fn config(&self) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            data_dir: self.dir.path().to_path_buf(),
            database_url: self.database_url.clone().map(Secret::new),
            admin_token: Some(Secret::new(ADMIN_TOKEN)),
            pool_size: 2,
            shutdown_grace_secs: 5,
            ..Config::default()
        }
    }

    /// Starts the service in-process.
    pub fn start(&self) -> Running {
        self.start_with(|_| {})
    }

    /// Starts the service in-process with a changed configuration.
    pub fn start_with(&self, tweak: impl FnOnce(&mut Config)) -> Running {
        let mut cfg = self.config();
        tweak(&mut cfg);
        Server::open(cfg).unwrap().start().unwrap()
    }

    /// Starts it again on `addr` (after a stop), retrying while the port is released.
    pub fn restart_on(&self, addr: SocketAddr) -> Running {
        for _ in 0..100 {
            if let Ok(l) = std::net::TcpListener::bind(addr) {
                return Server::open(self.config()).unwrap().start_on(l).unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("cannot bind {addr} again");
    }

    /// The vendor's root public key (what a product build compiles in); a fresh root is made
    /// on first use when the test did not import one.
    pub fn root(&self) -> [u8; 32] {
        let mut a = self.authority();
        match a.root_public_key() {
            Ok(root) => root,
            Err(_) => a.create_root_key(1_700_000_000).unwrap(),
        }
    }
}

/// The Chariot reference catalogue: the server (perpetual) and a year of Support.
pub fn chariot_spec(seats: u32) -> Value {
    json!({
        "product": "chariot",
        "customer": "ACME Corp",
        "features": [
            {"name": "mqtt-server", "kind": "perpetual"},
            {"name": "support", "kind": "subscription", "expires_at": 4_000_000_000u64}
        ],
        "models": ["online", "offline"],
        "max_activations": seats
    })
}

/// An HTTP agent that reports every status as a response.
pub fn http() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// Calls the admin API with the token; returns (status, JSON body).
pub fn admin(base: &str, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    call(base, method, path, body, Some(ADMIN_TOKEN))
}

/// Calls the API; returns (status, JSON body or Null).
pub fn call(
    base: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
    token: Option<&str>,
) -> (u16, Value) {
    let agent = http();
    let url = format!("{base}{path}");
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut resp = match method {
        "GET" => {
            let mut r = agent.get(&url);
            if let Some(a) = &auth {
                r = r.header("authorization", a);
            }
            r.call().unwrap()
        }
        _ => {
            let mut r = agent.post(&url).header("content-type", "application/json");
            if let Some(a) = &auth {
                r = r.header("authorization", a);
            }
            r.send(body.unwrap_or(Value::Null).to_string()).unwrap()
        }
    };
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

/// Issues a license through the admin API: (license id, key).
pub fn issue(base: &str, spec: Value) -> (u64, String) {
    let (status, body) = admin(base, "POST", "/v1/admin/licenses", Some(spec));
    assert_eq!(status, 201, "{body}");
    (
        body["license_id"].as_u64().unwrap(),
        body["key"].as_str().unwrap().to_owned(),
    )
}

/// The error code of an error body.
pub fn code(body: &Value) -> u64 {
    body["error"]["code"].as_u64().unwrap_or(0)
}

/// A broker host `n` (its own fingerprint, in-memory state) built with the vendor root `root`.
pub fn host(n: u32, root: [u8; 32]) -> LicenseManager {
    let config = HostConfig::new("chariot", "4.2.0", b"chariot-salt".to_vec(), root);
    let probes = StaticSource::from_strs(&[
        (ComponentKind::MachineId, &format!("machine-{n}")),
        (ComponentKind::Hostname, &format!("broker-{n}")),
        (ComponentKind::Mac, &format!("02:00:00:00:00:{n:02x}")),
    ]);
    LicenseManager::with_parts(
        config,
        Box::new(MemoryStorage::new()),
        Arc::new(SystemClock),
        Box::new(probes),
    )
    .unwrap()
}

/// A client of the service at `base` with quick retries.
pub fn client(base: &str) -> OnlineClient {
    OnlineClient::new(quick(base)).unwrap()
}

/// Client settings with quick retries, for tests.
pub fn quick(base: &str) -> OnlineConfig {
    let mut cfg = OnlineConfig::new(base);
    cfg.attempts = 3;
    cfg.backoff = Duration::from_millis(50);
    cfg.max_backoff = Duration::from_millis(200);
    cfg.connect_timeout = Duration::from_secs(2);
    cfg.timeout = Duration::from_secs(30);
    cfg
}

/// Active seats of a license, read from the ledger directly.
pub fn active_seats(vendor: &Vendor, license_id: u64) -> u64 {
    vendor
        .authority()
        .get_license(license_id)
        .unwrap()
        .active_activations
}

/// Waits until `f` holds, up to `limit`.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// The path of a file in the crate.
pub fn crate_file(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

/// Starts the real `tollgate-server` binary on `port` for `vendor` and waits until it answers.
pub fn spawn_server(vendor: &Vendor, port: u16) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tollgate-server"));
    cmd.env_clear()
        .env("TOLLGATE_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_DATA_DIR", vendor.dir.path())
        .env("TOLLGATE_LOG", "warn")
        .env("TOLLGATE_POOL_SIZE", "2")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(url) = &vendor.database_url {
        cmd.env("TOLLGATE_DATABASE_URL", url);
    }
    let child = cmd.spawn().unwrap();
    let url = format!("http://127.0.0.1:{port}");
    assert!(
        wait_until(Duration::from_secs(30), || {
            http()
                .get(format!("{url}/healthz"))
                .call()
                .is_ok_and(|r| r.status() == 200)
        }),
        "the server did not come up"
    );
    child
}

/// `n` usage requests for `key`, each from its own device.
pub fn device_requests(key: &LicenseKey, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let fp = Fingerprint::from_components(vec![
                Component::derive(ComponentKind::MachineId, format!("m{i}").as_bytes(), b"s"),
                Component::derive(ComponentKind::Hostname, format!("h{i}").as_bytes(), b"s"),
                Component::derive(ComponentKind::Mac, format!("a{i}").as_bytes(), b"s"),
            ])
            .unwrap();
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
            UsageRequest::create(
                key,
                &DeviceKey::from_seed(&seed),
                "chariot",
                "4.2.0",
                1,
                1_700_000_000,
                &fp,
            )
            .unwrap()
            .to_armor()
        })
        .collect()
}

/// Sends `request` once; the activation id if the service answered with a usage license.
pub fn activate_once(agent: &ureq::Agent, url: &str, request: &str) -> Option<(u64, bool)> {
    let body = serde_json::json!({ "request": request }).to_string();
    let mut resp = agent
        .post(format!("{url}/v1/activate"))
        .header("content-type", "application/json")
        .send(body)
        .ok()?;
    if resp.status() != 200 {
        return None;
    }
    let v: serde_json::Value =
        serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()?;
    Some((v["activation_id"].as_u64()?, v["repeated"].as_bool()?))
}
