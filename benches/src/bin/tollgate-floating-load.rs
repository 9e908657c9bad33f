//! `tollgate-floating-load`: lease checkouts and heartbeats against a real floating license
//! server on loopback; reports throughput, latency percentiles and the server's memory.
//!
//! ```text
//! tollgate-floating-load [--leases 10000] [--threads 8] [--heartbeat-secs 10] [--json]
//!                        [--database-url postgres://…]   # (or --postgres) leases in PostgreSQL
//! ```
//!
//! It makes a vendor and a floating license with enough seats in a temporary directory,
//! activates a server state directory for the floating model (the offline round trip), and
//! starts `tollgate-floating serve` (the binary next to this one) as a child process with a
//! lease TTL of 10 minutes, so that no lease ends during the run. Then:
//!
//! 1. `--leases` checkouts, each from its own client id, from `--threads` threads with
//!    keep-alive connections, one request in flight each: checkouts per second, latencies.
//!    Every checkout is committed to SQLite (`synchronous = FULL`) before it is answered.
//! 2. The server's resident memory (`VmRSS` of `/proc/PID/status`) with that many live leases.
//! 3. Heartbeats for `--heartbeat-secs` seconds, the threads going round their share of the
//!    leases: heartbeats per second, latencies. Each answer is a newly signed lease token; the
//!    first of each thread is verified offline like a broker does.
//!
//! With `--database-url` (an empty database), the server keeps its leases in PostgreSQL, as
//! one instance of an active/standby pair (it waits to become the active before the run).
//!
//! The load generator and the server share the machine: the numbers are for both on it.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use serde_json::json;
use tollgate_authority::{Authority, IssueSpec};
use tollgate_core::{ClientId, DeploymentModel, Feature, FeatureKind, Keyring, Models, Verifier};
use tollgate_floating::FloatingConfig;
use tollgate_protocol::floating::{
    self as protocol, CheckoutRequest, CheckoutResponse, LeaseRef, RenewResponse,
};
use tollgate_sdk::{Clock, LicenseManager, SystemClock};

/// Load generator for the Tollgate floating license server.
#[derive(Parser, Debug)]
#[command(name = "tollgate-floating-load")]
struct Args {
    /// Leases to check out (and keep live).
    #[arg(long, default_value_t = 10_000)]
    leases: usize,
    /// Client threads, one request in flight each.
    #[arg(long, default_value_t = 8)]
    threads: usize,
    /// How long to send heartbeats.
    #[arg(long, default_value_t = 10)]
    heartbeat_secs: u64,
    /// Print the results as JSON.
    #[arg(long)]
    json: bool,
    /// Keep the leases in this (empty) PostgreSQL database instead of SQLite.
    #[arg(long, alias = "postgres")]
    database_url: Option<String>,
}

/// A directory under the system's temporary directory, removed on drop.
struct TempDir(std::path::PathBuf);

impl TempDir {
    fn new() -> Self {
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).unwrap_or_else(|e| die(e));
        let p = std::env::temp_dir().join(format!("tollgate-floating-load-{}", hex::encode(r)));
        std::fs::create_dir_all(&p).unwrap_or_else(|e| die(e));
        TempDir(p)
    }

    fn path(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn die(msg: impl std::fmt::Display) -> ! {
    eprintln!("tollgate-floating-load: {msg}");
    std::process::exit(1)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU time of process `pid` (user + system), in seconds (`/proc/PID/stat`, USER_HZ = 100).
fn cpu_secs(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            // Fields after the command name (which may hold spaces) start after ") ".
            let rest = s.rsplit_once(") ")?.1;
            let f: Vec<&str> = rest.split_whitespace().collect();
            let utime: f64 = f.get(11)?.parse().ok()?;
            let stime: f64 = f.get(12)?.parse().ok()?;
            Some((utime + stime) / 100.0)
        })
        .unwrap_or(0.0)
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)] as f64 / 1000.0
}

struct Stats {
    count: usize,
    secs: f64,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

fn stats(mut lat_us: Vec<u64>, secs: f64) -> Stats {
    lat_us.sort_unstable();
    Stats {
        count: lat_us.len(),
        secs,
        p50_ms: percentile(&lat_us, 0.50),
        p99_ms: percentile(&lat_us, 0.99),
        max_ms: lat_us.last().copied().unwrap_or(0) as f64 / 1000.0,
    }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .max_idle_connections_per_host(4)
        .build()
        .into()
}

/// A vendor, a floating license with `seats` seats, and a server state directory activated
/// with it; returns the host configuration file and the vendor keyring.
fn prepare(dir: &std::path::Path, seats: u32) -> (std::path::PathBuf, Keyring) {
    let now = SystemClock.now();
    let mut vendor = Authority::open(dir.join("vendor")).unwrap_or_else(|e| die(e));
    // The floating server trusts the root it was built with: this tool works with builds made
    // with the published development root (tests/fixtures/dev-root.seed, 32 × 0x0a).
    let root = vendor
        .import_root_key(&[0x0a; 32], now)
        .unwrap_or_else(|e| die(e));
    if tollgate_sdk::BUILD_VENDOR_ROOT != Some(root) {
        die("tollgate-floating-load needs a build with the development vendor root");
    }
    let key = vendor.create_signing_key(now).unwrap_or_else(|e| die(e));
    let mut spec = IssueSpec::new("chariot", "Load Test");
    spec.features = vec![Feature {
        name: "mqtt-server".into(),
        kind: FeatureKind::Perpetual,
    }];
    spec.models = Models::of(&[DeploymentModel::Floating]);
    spec.floating_seats = seats;
    let issued = vendor.issue(spec, now).unwrap_or_else(|e| die(e));
    let host_file = dir.join("host.json");
    std::fs::write(
        &host_file,
        json!({
            "product": "chariot", "product_version": "4.2.0",
            "fingerprint_salt": "load-test-salt",
        })
        .to_string(),
    )
    .unwrap_or_else(|e| die(e));
    let cfg = FloatingConfig {
        state_dir: dir.join("state"),
        host_config: Some(host_file.clone()),
        components: vec![
            "operator=load-test-server".into(),
            "workload=load-test-pod".into(),
            "cloud-instance=load-test-instance".into(),
        ],
        probes: false,
        ..FloatingConfig::default()
    };
    std::fs::create_dir_all(&cfg.state_dir).unwrap_or_else(|e| die(e));
    let mut m = LicenseManager::open(cfg.host().unwrap_or_else(|e| die(e)), &cfg.state_dir)
        .unwrap_or_else(|e| die(e));
    let req = m
        .request_usage(&issued.key.expose())
        .unwrap_or_else(|e| die(e));
    let answer = vendor
        .fulfil(&req, DeploymentModel::Floating, now)
        .unwrap_or_else(|e| die(e));
    m.install(&answer.usage_license).unwrap_or_else(|e| die(e));
    let ring = Keyring::from_keys([&key.public_key]).unwrap_or_else(|e| die(e));
    (host_file, ring)
}

fn spawn_server(
    dir: &std::path::Path,
    host_file: &std::path::Path,
    port: u16,
    database_url: Option<&str>,
) -> Child {
    let exe = std::env::current_exe().unwrap_or_else(|e| die(e));
    let server = exe.with_file_name("tollgate-floating");
    let mut cmd = Command::new(&server);
    if let Some(url) = database_url {
        cmd.env("TOLLGATE_FLOATING_DATABASE_URL", url);
    }
    cmd.arg("serve")
        .env("TOLLGATE_FLOATING_LISTEN", format!("127.0.0.1:{port}"))
        .env("TOLLGATE_FLOATING_STATE_DIR", dir.join("state"))
        .env("TOLLGATE_HOST_CONFIG", host_file)
        .env(
            "TOLLGATE_FLOATING_COMPONENTS",
            "operator=load-test-server;workload=load-test-pod;cloud-instance=load-test-instance",
        )
        .env("TOLLGATE_FLOATING_PROBES", "0")
        .env("TOLLGATE_FLOATING_LEASE_TTL", "600")
        .env("TOLLGATE_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| die(format!("{}: {e}", server.display())))
}

fn main() {
    let args = Args::parse();
    let dir = TempDir::new();
    let (host_file, ring) = prepare(
        dir.path(),
        u32::try_from(args.leases + 100).unwrap_or(u32::MAX),
    );
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| die(e));
    let mut child = spawn_server(dir.path(), &host_file, port, args.database_url.as_deref());
    let base = format!("http://127.0.0.1:{port}");
    let a = agent();
    let up = Instant::now();
    // Up, and (with PostgreSQL) the active.
    let serving = |a: &ureq::Agent| {
        a.get(format!("{base}/healthz"))
            .call()
            .ok()
            .filter(|r| r.status() == 200)
            .and_then(|mut r| r.body_mut().read_to_string().ok())
            .is_some_and(|b| !b.contains("\"standby\""))
    };
    while !serving(&a) {
        if up.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            die("the server did not come up");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = child.id();
    let rss_idle = rss_kib(pid);

    // 1. Checkouts.
    let cpu0 = cpu_secs(pid);
    let threads = args.threads.max(1);
    let next = Arc::new(AtomicU64::new(0));
    let held: Arc<Mutex<Vec<(u64, String)>>> =
        Arc::new(Mutex::new(Vec::with_capacity(args.leases)));
    let start = Instant::now();
    let lat: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let (next, held, url) = (
                    Arc::clone(&next),
                    Arc::clone(&held),
                    format!("{base}{}", protocol::CHECKOUT),
                );
                let n = args.leases as u64;
                let _ = url;
                s.spawn(move || {
                    let mut conn = RawConn::connect(port);
                    let mut lat = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if i >= n {
                            return lat;
                        }
                        let mut id = [0u8; 16];
                        id[..8].copy_from_slice(&i.to_le_bytes());
                        let req = CheckoutRequest {
                            client_id: ClientId(id).to_hex(),
                            features: vec!["mqtt-server".into()],
                            client_name: format!("load-{i}"),
                            borrow_secs: None,
                            // One nonce per client is enough to measure the server.
                            nonce: ClientId(id).to_hex(),
                        };
                        let request = raw_post(
                            protocol::CHECKOUT,
                            &serde_json::to_string(&req).unwrap_or_default(),
                        );
                        let t = Instant::now();
                        let body = conn.round_trip(&request);
                        let r: CheckoutResponse =
                            serde_json::from_slice(&body).unwrap_or_else(|e| die(e));
                        lat.push(u64::try_from(t.elapsed().as_micros()).unwrap_or(u64::MAX));
                        held.lock()
                            .unwrap_or_else(|p| p.into_inner())
                            .push((r.lease_id, r.secret));
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let checkouts = stats(lat.concat(), start.elapsed().as_secs_f64());
    let cpu_checkouts = cpu_secs(pid) - cpu0;
    let rss_leases = rss_kib(pid);

    // 2. Heartbeats.
    let held = Arc::new(std::mem::take(
        &mut *held.lock().unwrap_or_else(|p| p.into_inner()),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let verified = Arc::new(AtomicU64::new(0));
    let verifier = Verifier::new("chariot", ring);
    let license: String = {
        let mut r = a
            .get(format!("{base}/v1/floating/license"))
            .call()
            .unwrap_or_else(|e| die(e));
        let v: serde_json::Value =
            serde_json::from_str(&r.body_mut().read_to_string().unwrap_or_default())
                .unwrap_or_else(|e| die(e));
        v["floating_license"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    let cpu1 = cpu_secs(pid);
    let start = Instant::now();
    let lat: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (held, stop, verified) =
                    (Arc::clone(&held), Arc::clone(&stop), Arc::clone(&verified));
                let (url, verifier, license) = (
                    format!("{base}{}", protocol::HEARTBEAT),
                    verifier.clone(),
                    license.clone(),
                );
                let _ = url;
                s.spawn(move || {
                    let mut conn = RawConn::connect(port);
                    let mut lat = Vec::new();
                    let mine: Vec<(u64, Vec<u8>)> = held
                        .iter()
                        .skip(t)
                        .step_by(threads)
                        .map(|(id, secret)| {
                            let body = serde_json::to_string(&LeaseRef {
                                lease_id: *id,
                                secret: secret.clone(),
                                nonce: format!("{id:032x}"),
                            })
                            .unwrap_or_default();
                            (*id, raw_post(protocol::HEARTBEAT, &body))
                        })
                        .collect();
                    let mut i = 0usize;
                    while !stop.load(Ordering::Relaxed) && !mine.is_empty() {
                        let (lease_id, request) = &mine[i % mine.len()];
                        let t0 = Instant::now();
                        let body = conn.round_trip(request);
                        lat.push(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
                        if i == 0 {
                            // Like a broker: the lease names its client; check it offline.
                            let r: RenewResponse =
                                serde_json::from_slice(&body).unwrap_or_else(|e| die(e));
                            let client = lease_client(&r.lease);
                            if let Ok(e) =
                                verifier.verify_lease_untimed(&license, &r.lease, &client)
                            {
                                if e.lease().lease_id == *lease_id {
                                    verified.fetch_add(1, Ordering::Relaxed);
                                }
                            }
                        }
                        i += 1;
                    }
                    lat
                })
            })
            .collect();
        std::thread::sleep(Duration::from_secs(args.heartbeat_secs));
        stop.store(true, Ordering::Relaxed);
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let heartbeats = stats(lat.concat(), start.elapsed().as_secs_f64());
    let cpu_heartbeats = cpu_secs(pid) - cpu1;
    let rss_after = rss_kib(pid);

    // Stop the server gracefully (SIGTERM).
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let _ = child.wait();
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        let _ = e.read_to_string(&mut stderr);
    }

    let rate = |s: &Stats| s.count as f64 / s.secs.max(1e-9);
    let report = json!({
        "leases": args.leases,
        "database": if args.database_url.is_some() { "postgres" } else { "sqlite" },
        "threads": threads,
        "cpus": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "checkouts": { "count": checkouts.count, "secs": checkouts.secs, "per_sec": rate(&checkouts),
                        "p50_ms": checkouts.p50_ms, "p99_ms": checkouts.p99_ms, "max_ms": checkouts.max_ms,
                        "server_cpu_secs": cpu_checkouts,
                        "server_cpu_us_each": cpu_checkouts * 1e6 / checkouts.count.max(1) as f64 },
        "heartbeats": { "count": heartbeats.count, "secs": heartbeats.secs, "per_sec": rate(&heartbeats),
                         "p50_ms": heartbeats.p50_ms, "p99_ms": heartbeats.p99_ms, "max_ms": heartbeats.max_ms,
                         "verified_offline": verified.load(Ordering::Relaxed),
                         "server_cpu_secs": cpu_heartbeats,
                         "server_cpu_us_each": cpu_heartbeats * 1e6 / heartbeats.count.max(1) as f64 },
        "server_rss_kib": { "idle": rss_idle, "with_leases": rss_leases, "after_heartbeats": rss_after },
    });
    if args.json {
        println!("{report}");
        return;
    }
    println!(
        "floating server on loopback ({}), {} client threads, {} CPUs",
        report["database"].as_str().unwrap_or(""),
        threads,
        report["cpus"]
    );
    println!(
        "checkouts:  {:>7} in {:6.2} s = {:>8.0}/s   p50 {:6.2} ms   p99 {:6.2} ms   max {:6.2} ms",
        checkouts.count,
        checkouts.secs,
        rate(&checkouts),
        checkouts.p50_ms,
        checkouts.p99_ms,
        checkouts.max_ms
    );
    println!(
        "heartbeats: {:>7} in {:6.2} s = {:>8.0}/s   p50 {:6.2} ms   p99 {:6.2} ms   max {:6.2} ms   ({} verified offline)",
        heartbeats.count, heartbeats.secs, rate(&heartbeats), heartbeats.p50_ms, heartbeats.p99_ms, heartbeats.max_ms,
        verified.load(Ordering::Relaxed)
    );
    println!(
        "server CPU: {:.0} µs per checkout, {:.0} µs per heartbeat (both client and server run on these CPUs)",
        report["checkouts"]["server_cpu_us_each"].as_f64().unwrap_or(0.0),
        report["heartbeats"]["server_cpu_us_each"].as_f64().unwrap_or(0.0)
    );
    println!(
        "server RSS: {:.1} MiB idle, {:.1} MiB with {} live leases, {:.1} MiB after the heartbeats",
        rss_idle as f64 / 1024.0,
        rss_leases as f64 / 1024.0,
        args.leases,
        rss_after as f64 / 1024.0
    );
}

/// A keep-alive HTTP/1.1 connection with just enough of the protocol for the heartbeat loop:
/// the load generator shares the CPUs with the server, so it keeps its own work small (a
/// prepared request, the status line, `content-length`, the body).
struct RawConn {
    stream: std::net::TcpStream,
    buf: Vec<u8>,
}

fn raw_post(path: &str, body: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n\
         content-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

impl RawConn {
    fn connect(port: u16) -> Self {
        let stream = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_or_else(|e| die(e));
        let _ = stream.set_nodelay(true);
        RawConn {
            stream,
            buf: Vec::with_capacity(4096),
        }
    }

    /// Sends `request`, returns the response body; dies on anything but a 200.
    fn round_trip(&mut self, request: &[u8]) -> Vec<u8> {
        use std::io::Write;
        self.stream.write_all(request).unwrap_or_else(|e| die(e));
        self.buf.clear();
        let mut chunk = [0u8; 4096];
        let (head_end, len) = loop {
            let n = self.stream.read(&mut chunk).unwrap_or_else(|e| die(e));
            if n == 0 {
                die("the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(p) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&self.buf[..p]).to_ascii_lowercase();
                if !head.starts_with("http/1.1 200") {
                    die(format!(
                        "heartbeat refused: {}",
                        String::from_utf8_lossy(&self.buf)
                    ));
                }
                let len = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or_else(|| die("no content-length"));
                break (p + 4, len);
            }
        };
        while self.buf.len() < head_end + len {
            let n = self.stream.read(&mut chunk).unwrap_or_else(|e| die(e));
            if n == 0 {
                die("the server closed the connection");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        self.buf[head_end..head_end + len].to_vec()
    }
}

/// The client id a lease token names (read from its claims; the load generator made many).
fn lease_client(lease: &str) -> ClientId {
    tollgate_core::armor::decode(tollgate_core::ArtifactType::Lease, lease, 1024)
        .ok()
        .and_then(|b| {
            // header 4, key id 8, then lease_id, license_id, activation_id varints, then the id.
            let mut at = 12;
            for _ in 0..3 {
                while *b.get(at)? & 0x80 != 0 {
                    at += 1;
                }
                at += 1;
            }
            let id: [u8; 16] = b.get(at..at + 16)?.try_into().ok()?;
            Some(ClientId(id))
        })
        .unwrap_or(ClientId([0; 16]))
}
