//! `tollgate-load`: many concurrent clients activating against the online service on
//! loopback; reports activations per second and latency percentiles.
//!
//! ```text
//! tollgate-load [--clients 64] [--requests 20000] [--warmup 1000]
//!               [--database-url postgres://…]          # (or --postgres) in-process server, PostgreSQL ledger
//!               [--url http://127.0.0.1:8443 --admin-token T]   # or an external server
//! ```
//!
//! Without `--url` it starts the service in this process on 127.0.0.1 with a fresh vendor
//! directory (SQLite ledger, `synchronous = FULL`: every answered activation is on disk) or
//! the given PostgreSQL database. It issues one license with enough seats, makes every usage
//! request up front (each from its own device key), sends `--warmup` of them unmeasured, then
//! the rest from `--clients` threads with keep-alive connections, one request in flight each.
//! Every answer must be a new activation; anything else is counted as a failure.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::{json, Value};
use tollgate_core::{Component, ComponentKind, DeviceKey, Fingerprint, LicenseKey, UsageRequest};
use tollgate_server::{Config, Secret, Server};

/// Load generator for the Tollgate online activation service.
#[derive(Parser, Debug)]
#[command(name = "tollgate-load")]
struct Args {
    /// Concurrent clients (threads, one request in flight each).
    #[arg(long, default_value_t = 64)]
    clients: usize,
    /// Measured activations.
    #[arg(long, default_value_t = 20_000)]
    requests: usize,
    /// Activations sent before measuring.
    #[arg(long, default_value_t = 1_000)]
    warmup: usize,
    /// An external server to load instead of starting one.
    #[arg(long)]
    url: Option<String>,
    /// The external server's admin token (to issue the license).
    #[arg(long, env = "TOLLGATE_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: Option<String>,
    /// PostgreSQL ledger for the in-process server (default: SQLite in a temporary directory).
    #[arg(long, alias = "postgres")]
    database_url: Option<String>,
    /// The in-process server's group-commit batch limit.
    #[arg(long, default_value_t = 256)]
    batch_max: usize,
}

type Failure = Box<dyn std::error::Error>;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

fn post(
    agent: &ureq::Agent,
    url: &str,
    token: Option<&str>,
    body: &Value,
) -> Result<(u16, Value), Failure> {
    let mut req = agent.post(url).header("content-type", "application/json");
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let mut resp = req.send(body.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string()?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn requests(key: &LicenseKey, n: usize) -> Result<Vec<String>, Failure> {
    let mut out = Vec::with_capacity(n);
    for i in 0..n {
        let fp = Fingerprint::from_components(vec![
            Component::derive(
                ComponentKind::MachineId,
                format!("machine-{i}").as_bytes(),
                b"load",
            ),
            Component::derive(
                ComponentKind::Hostname,
                format!("broker-{i}").as_bytes(),
                b"load",
            ),
            Component::derive(ComponentKind::Mac, format!("mac-{i}").as_bytes(), b"load"),
        ])?;
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| e.to_string())?;
        let device = DeviceKey::from_seed(&seed);
        out.push(
            UsageRequest::create(key, &device, "chariot", "4.2.0", 1, 1_700_000_000, &fp)?
                .to_armor(),
        );
    }
    Ok(out)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i]
}

/// Sends `reqs` from `clients` threads; returns (latencies of successes, failures, elapsed).
fn fire(url: &str, reqs: &Arc<Vec<String>>, clients: usize) -> (Vec<Duration>, usize, Duration) {
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let threads: Vec<_> = (0..clients)
        .map(|_| {
            let (reqs, next, url) = (
                Arc::clone(reqs),
                Arc::clone(&next),
                format!("{url}/v1/activate"),
            );
            std::thread::spawn(move || {
                let agent = agent();
                let mut lat = Vec::new();
                let mut failed = 0;
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(r) = reqs.get(i) else { break };
                    let t = Instant::now();
                    match post(&agent, &url, None, &json!({ "request": r })) {
                        Ok((200, v)) if v["new_activation"] == true => lat.push(t.elapsed()),
                        Ok((status, v)) => {
                            if failed < 3 {
                                eprintln!("refused: {status} {v}");
                            }
                            failed += 1;
                        }
                        Err(e) => {
                            if failed < 3 {
                                eprintln!("failed: {e}");
                            }
                            failed += 1;
                        }
                    }
                }
                (lat, failed)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut failed = 0;
    for t in threads {
        if let Ok((lat, f)) = t.join() {
            all.extend(lat);
            failed += f;
        }
    }
    (all, failed, start.elapsed())
}

fn run(args: Args) -> Result<(), Failure> {
    let token = "load-admin-token-0123456789".to_owned();
    let mut _dir = None;
    let mut _running = None;
    let (url, token, backend) = match &args.url {
        Some(url) => (
            url.trim_end_matches('/').to_owned(),
            args.admin_token
                .clone()
                .ok_or("--url needs --admin-token")?,
            "external".to_owned(),
        ),
        None => {
            let dir = tempfile_dir()?;
            let mut cfg = Config {
                listen: "127.0.0.1:0".parse()?,
                data_dir: dir.clone(),
                database_url: args.database_url.clone().map(Secret::new),
                admin_token: Some(Secret::new(token.clone())),
                batch_max: args.batch_max,
                ..Config::default()
            };
            cfg.rate_limit.burst = 1_000_000;
            let mut a = match &args.database_url {
                Some(u) => {
                    tollgate_authority::Authority::open_postgres(&dir, u, Default::default())?
                }
                None => tollgate_authority::Authority::open(&dir)?,
            };
            // Set up as `tollgate vendor init` does: a root key, then a signing key it
            // certifies (every usage license carries the certificate).
            if a.active_key_id()?.is_none() {
                let now = tollgate_server::store::unix_now();
                a.create_root_key(now)?;
                a.create_signing_key(now)?;
            }
            drop(a);
            let backend = if args.database_url.is_some() {
                "postgres"
            } else {
                "sqlite"
            };
            let running = Server::open(cfg)?.start()?;
            let url = running.url();
            _running = Some(running);
            _dir = Some(dir);
            (url, token, backend.to_owned())
        }
    };
    let total = args.requests + args.warmup;
    let agent = agent();
    let (status, issued) = post(
        &agent,
        &format!("{url}/v1/admin/licenses"),
        Some(&token),
        &json!({
            "product": "chariot", "customer": "load test",
            "features": [{"name": "mqtt-server", "kind": "perpetual"}],
            "models": ["online"], "max_activations": total
        }),
    )?;
    if status != 201 {
        return Err(format!("issue failed: {status} {issued}").into());
    }
    let key = LicenseKey::parse(issued["key"].as_str().ok_or("no key")?)?;
    eprintln!("making {total} usage requests …");
    let mut reqs = requests(&key, total)?;
    let measured = Arc::new(reqs.split_off(args.warmup));
    let warm = Arc::new(reqs);
    eprintln!("warm-up: {} activations", warm.len());
    let (_, wfail, _) = fire(&url, &warm, args.clients);
    let before = batches(&agent, &url);
    eprintln!(
        "measuring: {} activations from {} clients",
        measured.len(),
        args.clients
    );
    let (mut lat, failed, elapsed) = fire(&url, &measured, args.clients);
    let after = batches(&agent, &url);
    lat.sort_unstable();
    let ok = lat.len();
    let rate = ok as f64 / elapsed.as_secs_f64();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let (b, items) = (after.0 - before.0, after.1 - before.1);
    println!(
        "backend={backend} clients={} activations={ok} failed={} elapsed={:.2}s rate={rate:.0}/s \
         p50={:.2}ms p90={:.2}ms p99={:.2}ms max={:.2}ms commits={b} mean_batch={:.1}",
        args.clients,
        failed + wfail,
        elapsed.as_secs_f64(),
        ms(percentile(&lat, 0.50)),
        ms(percentile(&lat, 0.90)),
        ms(percentile(&lat, 0.99)),
        ms(lat.last().copied().unwrap_or_default()),
        if b > 0.0 { items / b } else { 0.0 },
    );
    if let Some(d) = _dir.take() {
        drop(_running.take());
        let _ = std::fs::remove_dir_all(d);
    }
    if failed + wfail > 0 {
        return Err(format!("{} activations failed", failed + wfail).into());
    }
    Ok(())
}

/// (batches, items) from the group-commit counters in /metrics.
fn batches(agent: &ureq::Agent, url: &str) -> (f64, f64) {
    let text = agent
        .get(format!("{url}/metrics"))
        .call()
        .ok()
        .and_then(|mut r| r.body_mut().read_to_string().ok())
        .unwrap_or_default();
    let get = |name: &str| {
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|v| v.trim().parse::<f64>().ok())
            })
            .unwrap_or(0.0)
    };
    (
        get("tollgate_group_commit_batches_total "),
        get("tollgate_group_commit_items_total "),
    )
}

/// A new private directory under the system temporary directory.
fn tempfile_dir() -> Result<std::path::PathBuf, Failure> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("tollgate-load-{}", hex::encode(b)));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

fn main() -> std::process::ExitCode {
    match run(Args::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tollgate-load: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
