//! Two `tollgate-floating` instances serving one pool over one PostgreSQL (issue 16 §3):
//! killing the active under load, a paused active waking up after it was replaced, a write
//! of a deposed active, and a third copy of the pair's files.
//!
//! Needs `TOLLGATE_TEST_PG_URL` (`eval "$(scripts/pg.sh start)"`); each test says loudly that
//! it is skipped without it. Loopback only; short TTLs; every wait is bounded, and no
//! assertion is about speed (the failover time is printed, not asserted).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

mod common;

use common::*;
use serde_json::Value;
use tempfile::TempDir;
use tollgate_core::{Component, ComponentKind, Feature, FeatureKind, Fingerprint};
use tollgate_floating::{FloatingConfig, FloatingServer};
use tollgate_protocol::floating as protocol;
use tollgate_sdk::{
    FloatingClient, FloatingConfig as ClientConfig, HostConfig, LeaseEvent, SdkError, SystemClock,
};

const FEATURE: &str = "mqtt-server";

/// The PostgreSQL server to test on, or `None` (and a loud notice).
fn pg_url() -> Option<String> {
    match std::env::var("TOLLGATE_TEST_PG_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ => {
            eprintln!(
                "\n!!! TOLLGATE_TEST_PG_URL is not set: SKIPPING the floating failover test \
                 (eval \"$(scripts/pg.sh start)\" starts a PostgreSQL server and sets it) !!!\n"
            );
            None
        }
    }
}

/// A new empty database on the server of `url`; its URL.
fn fresh_database(url: &str) -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).unwrap();
    let name = format!("tgf_{}", hex::encode(bytes));
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap();
    let base = url.rsplit_once('/').unwrap().0;
    format!("{base}/{name}")
}

/// A vendor, a floating license of `seats`, and one floating activation: the pool's state
/// directory, which each instance of the pair gets a copy of.
struct Pool {
    _vendor: TempDir,
    dir: TempDir,
    host: HostConfig,
    host_file: PathBuf,
    state: PathBuf,
    components: Vec<String>,
}

impl Pool {
    fn new(seats: u32) -> Self {
        let (vendor, mut authority, root) = vendor();
        let mut spec = floating_spec(seats);
        spec.features = vec![Feature {
            name: FEATURE.into(),
            kind: FeatureKind::Perpetual,
        }];
        let issued = authority.issue(spec, now()).unwrap();

        let dir = tempfile::tempdir().unwrap();
        let (host, host_file) = host_config(dir.path(), root);
        // The pool's identity: operator-given components, the same on both hosts (no probes).
        let components = vec![
            "operator=plant-7-floating-pool".to_owned(),
            "workload=floating-pair".to_owned(),
            "cloud-instance=pool-7".to_owned(),
        ];
        let state = dir.path().join("pool-state");
        let cfg = FloatingConfig {
            state_dir: state.clone(),
            host_config: Some(host_file.clone()),
            components: components.clone(),
            probes: false,
            ..FloatingConfig::default()
        };
        std::fs::create_dir_all(&state).unwrap();
        activate(
            &mut authority,
            cfg.host().unwrap(),
            &state,
            &issued.key.expose(),
        );
        Pool {
            _vendor: vendor,
            dir,
            host,
            host_file,
            state,
            components,
        }
    }

    /// A copy of the pool's state directory (device key, usage license) for instance `name`,
    /// as an operator copies it to the second host.
    fn copy_state(&self, name: &str) -> PathBuf {
        let to = self.dir.path().join(format!("state-{name}"));
        copy_dir(&self.state, &to);
        to
    }

    /// The configuration of instance `name` on `database`.
    fn config(&self, name: &str, database: &str, ttl: u64, leader_ttl: u64) -> FloatingConfig {
        FloatingConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            state_dir: self.copy_state(name),
            host_config: Some(self.host_file.clone()),
            components: self.components.clone(),
            probes: false,
            lease_ttl_secs: ttl,
            cull_interval_secs: 1,
            flush_interval_ms: 200,
            admin_token: Some(tollgate_service_kit::Secret::new(ADMIN_TOKEN)),
            database_url: Some(tollgate_service_kit::Secret::new(database)),
            leader_ttl_secs: leader_ttl,
            ..FloatingConfig::default()
        }
    }

    /// A broker named `name` asking the servers `urls` (comma-separated).
    fn broker(&self, urls: &str, name: &str) -> FloatingClient {
        let fp = Fingerprint::from_components(vec![Component::derive(
            ComponentKind::Operator,
            format!("host-of-{name}").as_bytes(),
            SALT,
        )])
        .unwrap();
        let mut cfg = ClientConfig::new(urls, [FEATURE]);
        cfg.instance = name.into();
        cfg.client_name = name.into();
        cfg.connect_timeout = Duration::from_millis(500);
        cfg.timeout = Duration::from_secs(2);
        cfg.retry_initial = Duration::from_millis(200);
        cfg.retry_max = Duration::from_millis(500);
        FloatingClient::with_parts(&self.host, cfg, &fp, Arc::new(SystemClock)).unwrap()
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
        }
    }
}

/// A `tollgate-floating serve` process; killed (SIGKILL) when dropped.
struct Process {
    child: Child,
    url: String,
}

impl Process {
    fn start(cfg: &FloatingConfig, log: &Path) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}");
        let file = cfg.state_dir.with_extension("toml");
        let toml = format!(
            "listen = \"127.0.0.1:{port}\"\nstate_dir = {:?}\nhost_config = {:?}\n\
             components = {:?}\nprobes = false\nlease_ttl_secs = {}\ncull_interval_secs = {}\n\
             flush_interval_ms = {}\nadmin_token = {:?}\nleader_ttl_secs = {}\n\
             advertise_url = {:?}\nlog_format = \"text\"\n",
            cfg.state_dir,
            cfg.host_config.as_ref().unwrap(),
            cfg.components,
            cfg.lease_ttl_secs,
            cfg.cull_interval_secs,
            cfg.flush_interval_ms,
            ADMIN_TOKEN,
            cfg.leader_ttl_secs,
            url,
        );
        std::fs::write(&file, toml).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_tollgate-floating"))
            .args(["serve", "--config"])
            .arg(&file)
            .env(
                "TOLLGATE_FLOATING_DATABASE_URL",
                cfg.database_url.as_ref().unwrap().expose(),
            )
            .env("TOLLGATE_LOG", "info")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        Process { child, url }
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .args([sig, &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok, "kill {sig}");
    }

    fn kill9(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET url/healthz`, or `None` when nothing answers.
fn health(url: &str) -> Option<Value> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(2)))
        .build()
        .into();
    let mut resp = agent.get(&format!("{url}/healthz")).call().ok()?;
    serde_json::from_str(&resp.body_mut().read_to_string().ok()?).ok()
}

fn role(url: &str) -> Option<String> {
    health(url).and_then(|h| h["role"].as_str().map(str::to_owned))
}

/// Waits (at most `limit`) until the instance at `url` reports `want`; how long it took.
fn wait_role(url: &str, want: &str, limit: Duration) -> Duration {
    let start = Instant::now();
    loop {
        if role(url).as_deref() == Some(want) {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "{url} did not become {want} within {limit:?} (role {:?})",
            role(url)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn code(e: &SdkError) -> Option<u32> {
    e.refusal_code()
}

/// What a client saw: for each lease id, the intervals `[issued_at, expires_at)` of the lease
/// tokens it held (server seconds), and the second it started releasing that lease (it stops
/// relying on its token then).
#[derive(Default)]
struct Seen {
    tokens: Vec<(u64, u64, u64)>,
    released: BTreeMap<u64, u64>,
}

impl Seen {
    /// The client's holding intervals: each lease's tokens merged and cut where its release
    /// started, then the leases merged.
    fn intervals(&self) -> Vec<(u64, u64)> {
        let mut per_lease: Vec<(u64, u64)> = Vec::new();
        let leases: std::collections::BTreeSet<u64> = self.tokens.iter().map(|t| t.0).collect();
        for id in leases {
            let mut iv: Vec<(u64, u64)> = self
                .tokens
                .iter()
                .filter(|t| t.0 == id)
                .map(|t| (t.1, t.2))
                .collect();
            iv.sort_unstable();
            let mut b = iv.iter().map(|t| t.1).max().unwrap();
            if let Some(&r) = self.released.get(&id) {
                b = b.min(r);
            }
            let mut merged = merge(iv);
            for m in &mut merged {
                m.1 = m.1.min(b);
            }
            per_lease.extend(merged.into_iter().filter(|m| m.1 > m.0));
        }
        merge(per_lease)
    }

    /// The lease this client holds at `t` (a token valid then, not released), with the end
    /// of that token.
    fn holding(&self, t: u64) -> Option<(u64, u64)> {
        self.tokens
            .iter()
            .filter(|x| x.1 <= t && t < x.2 && !self.released.contains_key(&x.0))
            .map(|x| (x.0, x.2))
            .max_by_key(|x| x.1)
    }
}

fn merge(mut v: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    v.sort_unstable();
    let mut out: Vec<(u64, u64)> = Vec::new();
    for (a, b) in v {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// The most clients holding a valid token at any one instant.
fn max_concurrent(all: &[Vec<(u64, u64)>]) -> usize {
    let mut edges: Vec<(u64, i32)> = Vec::new();
    for iv in all {
        for &(a, b) in iv {
            edges.push((a, 1));
            edges.push((b, -1));
        }
    }
    // An interval is half-open: at equal times, ends come before starts.
    edges.sort_unstable();
    let (mut n, mut max) = (0i32, 0i32);
    for (_, d) in edges {
        n += d;
        max = max.max(n);
    }
    usize::try_from(max).unwrap()
}

#[test]
fn the_standby_takes_over_when_the_active_is_killed_and_no_seat_is_lent_twice() {
    let Some(pg) = pg_url() else { return };
    let (seats, clients, ttl, leader_ttl) = (5u32, 12usize, 6u64, 2u64);
    let pool = Pool::new(seats);
    let db = fresh_database(&pg);
    let logs = pool.dir.path().to_path_buf();
    let mut a = Process::start(&pool.config("a", &db, ttl, leader_ttl), &logs.join("a.log"));
    wait_role(&a.url, "active", Duration::from_secs(30));
    let b = Process::start(&pool.config("b", &db, ttl, leader_ttl), &logs.join("b.log"));
    wait_role(&b.url, "standby", Duration::from_secs(30));
    let urls = format!("{},{}", a.url, b.url);

    let stop = Arc::new(AtomicBool::new(false));
    let hold = Arc::new(AtomicBool::new(false));
    let seen: Arc<Vec<Mutex<Seen>>> = Arc::new((0..clients).map(|_| Mutex::default()).collect());
    let mut threads = Vec::new();
    for i in 0..clients {
        let client = pool.broker(&urls, &format!("broker-{i}"));
        let (stop, hold, seen) = (Arc::clone(&stop), Arc::clone(&hold), Arc::clone(&seen));
        threads.push(std::thread::spawn(move || {
            let mut checkouts = 0u32;
            // Bounded: stops when told, and the test's own waits are bounded.
            while !stop.load(Ordering::SeqCst) {
                let log = Arc::clone(&seen);
                let lease = client.checkout(move |e| {
                    let (id, expires) = match e {
                        LeaseEvent::Acquired {
                            lease_id,
                            expires_at,
                        }
                        | LeaseEvent::Renewed {
                            lease_id,
                            expires_at,
                        } => (*lease_id, *expires_at),
                        _ => return,
                    };
                    log[i]
                        .lock()
                        .unwrap()
                        .tokens
                        .push((id, expires - ttl, expires));
                });
                let lease = match lease {
                    Ok(l) => l,
                    Err(_) => {
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                };
                checkouts += 1;
                // Churn: hold for 1–2.5 s, release, try again; once told to hold, keep it.
                let hold_for = Duration::from_millis(
                    1000 + (i as u64 * 137 + u64::from(checkouts) * 311) % 1500,
                );
                let held = Instant::now();
                while !stop.load(Ordering::SeqCst)
                    && (hold.load(Ordering::SeqCst) || held.elapsed() < hold_for)
                {
                    std::thread::sleep(Duration::from_millis(50));
                }
                let id = lease.lease_id();
                seen[i].lock().unwrap().released.insert(id, now());
                let _ = lease.release();
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }

    // Churn for a while, then let the seats settle with their holders.
    std::thread::sleep(Duration::from_secs(5));
    hold.store(true, Ordering::SeqCst);
    let settle = Instant::now();
    let holders_at_kill: BTreeMap<usize, u64> = loop {
        let t = now();
        let holding: BTreeMap<usize, u64> = seen
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.lock().unwrap().holding(t).map(|(_, end)| (i, end)))
            .collect();
        if holding.len() == seats as usize {
            break holding;
        }
        assert!(
            settle.elapsed() < Duration::from_secs(30),
            "the seats did not settle: {holding:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    // kill -9 the active under load.
    let killed_at = now();
    a.kill9();
    let killed = Instant::now();
    let took = wait_role(&b.url, "active", Duration::from_secs(10 * leader_ttl));
    eprintln!(
        "failover: the standby became the active {} ms after the SIGKILL (leader TTL {leader_ttl} s)",
        took.as_millis()
    );

    // Every client that held a seat keeps it or regains it: a token issued after the kill.
    let regained = Instant::now();
    let after_kill = loop {
        let got: BTreeMap<usize, u64> = holders_at_kill
            .keys()
            .filter_map(|i| {
                let s = seen[*i].lock().unwrap();
                s.tokens
                    .iter()
                    .map(|t| t.1)
                    .filter(|issued| *issued > killed_at)
                    .min()
                    .map(|issued| (*i, issued))
            })
            .collect();
        if got.len() == holders_at_kill.len() || regained.elapsed() > Duration::from_secs(4 * ttl) {
            break got;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    // Whatever happened, stop the clients and count the overlap first: it is the worse failure.
    let finish = |threads: Vec<std::thread::JoinHandle<()>>| {
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            t.join().unwrap();
        }
        let all: Vec<Vec<(u64, u64)>> =
            seen.iter().map(|s| s.lock().unwrap().intervals()).collect();
        let max = max_concurrent(&all);
        assert!(
            max <= seats as usize,
            "{max} valid lease tokens at once for {seats} seats"
        );
        (all, max)
    };
    if after_kill.len() != holders_at_kill.len() {
        finish(threads);
        panic!(
            "not every holder renewed after the failover: {after_kill:?} of {holders_at_kill:?}"
        );
    }
    eprintln!(
        "every holder renewed {} ms after the SIGKILL",
        killed.elapsed().as_millis()
    );
    let mut kept = 0;
    for (i, issued) in &after_kill {
        let old_end = holders_at_kill[i];
        assert!(
            *issued <= old_end + ttl,
            "broker-{i}: its token ended at {old_end}, the next was issued at {issued}: more than one TTL"
        );
        if *issued < old_end {
            kept += 1;
        }
    }
    eprintln!(
        "{kept} of {} holders kept their seat without a gap ({} regained it within one TTL)",
        after_kill.len(),
        after_kill.len() - kept
    );

    // Churn again on the new active for a little while, then stop.
    hold.store(false, Ordering::SeqCst);
    std::thread::sleep(Duration::from_secs(3));
    let (all, max) = finish(threads);
    let tokens: usize = seen.iter().map(|s| s.lock().unwrap().tokens.len()).sum();
    eprintln!("{tokens} lease tokens over {clients} clients; at most {max} valid at once");
    assert_eq!(
        max, seats as usize,
        "never more than {seats} valid tokens at once, and the seats were all used"
    );
    assert!(
        all.iter().filter(|v| !v.is_empty()).count() > seats as usize,
        "the seats changed hands"
    );
    drop(b);
}

#[test]
fn a_paused_active_lends_nothing_when_it_wakes_and_a_third_copy_is_one_more_standby() {
    let Some(pg) = pg_url() else { return };
    let (ttl, leader_ttl) = (6u64, 2u64);
    let pool = Pool::new(1);
    let db = fresh_database(&pg);
    let logs = pool.dir.path().to_path_buf();
    let a = Process::start(&pool.config("a", &db, ttl, leader_ttl), &logs.join("a.log"));
    wait_role(&a.url, "active", Duration::from_secs(30));
    let b = Process::start(&pool.config("b", &db, ttl, leader_ttl), &logs.join("b.log"));
    wait_role(&b.url, "standby", Duration::from_secs(30));

    // The standby refuses with 347, naming the active.
    // (Once it has read the leader row: its first round.)
    let direct = pool.broker(&b.url, "direct");
    let asked = Instant::now();
    loop {
        let e = direct.checkout(|_| {}).unwrap_err();
        assert_eq!(code(&e), Some(protocol::STANDBY), "{e}");
        if e.to_string().contains(&a.url) {
            break;
        }
        assert!(
            asked.elapsed() < Duration::from_secs(10 * leader_ttl),
            "{e}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // SIGSTOP the active (a paused VM); the standby takes over; a broker gets the one seat.
    a.signal("-STOP");
    wait_role(&b.url, "active", Duration::from_secs(10 * leader_ttl));
    let first = pool.broker(&b.url, "first");
    let lease = first.checkout(|_| {}).unwrap();
    assert!(lease.has_feature(FEATURE));

    // The old active wakes up: it lends nothing, renews nothing, and says who leads.
    a.signal("-CONT");
    let late = pool.broker(&a.url, "late");
    let e = late.checkout(|_| {}).unwrap_err();
    assert_eq!(code(&e), Some(protocol::STANDBY), "{e}");
    let e = late
        .heartbeat_raw(lease.lease_id(), "not-the-secret")
        .unwrap_err();
    assert_eq!(code(&e), Some(protocol::STANDBY), "{e}");
    wait_role(&a.url, "standby", Duration::from_secs(10 * leader_ttl));
    // Through both URLs, the seat stays taken.
    let both = format!("{},{}", a.url, b.url);
    let e = pool.broker(&both, "second").checkout(|_| {}).unwrap_err();
    assert_eq!(code(&e), Some(protocol::NO_SEAT), "{e}");

    // A third copy of the pair's files on the same database is one more standby: the pool
    // still has one seat.
    let c = Process::start(&pool.config("c", &db, ttl, leader_ttl), &logs.join("c.log"));
    wait_role(&c.url, "standby", Duration::from_secs(30));
    let all = format!("{},{},{}", c.url, a.url, b.url);
    let e = pool.broker(&all, "third").checkout(|_| {}).unwrap_err();
    assert_eq!(code(&e), Some(protocol::NO_SEAT), "{e}");
    lease.release().unwrap();
    let third = pool.broker(&all, "third").checkout(|_| {}).unwrap();
    assert!(third.has_feature(FEATURE));
    drop((a, b, c));
}

/// The fencing itself: an active whose term has not lapsed by its own clock, but whose row
/// was taken over (a pause longer than the term, clocks that disagree on rate), cannot store
/// a checkout, hence cannot lend it, and steps down.
#[test]
fn a_deposed_active_cannot_write() {
    let Some(pg) = pg_url() else { return };
    let pool = Pool::new(2);
    let db = fresh_database(&pg);
    let mut cfg = pool.config("a", &db, 60, 30);
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    let running = FloatingServer::open(cfg)
        .unwrap()
        .start_on(TcpListener::bind("127.0.0.1:0").unwrap())
        .unwrap();
    let url = running.url();
    wait_role(&url, "active", Duration::from_secs(30));
    let one = pool.broker(&url, "one").checkout(|_| {}).unwrap();
    assert!(one.has_feature(FEATURE));

    // The server's sessions end a transaction left idle (a paused instance holding the
    // leader row's lock) after a second.
    let mut like_the_server = postgres::Client::connect(
        &tollgate_floating::persist::with_idle_in_tx_timeout(&db),
        postgres::NoTls,
    )
    .unwrap();
    let idle: String = like_the_server
        .query_one("SHOW idle_in_transaction_session_timeout", &[])
        .unwrap()
        .get(0);
    assert_eq!(idle, "1s");

    // Another holder takes the row behind this instance's back.
    let mut sql = postgres::Client::connect(&db, postgres::NoTls).unwrap();
    sql.batch_execute(
        "UPDATE floating_leader SET holder = 'intruder', epoch = epoch + 1, \
         expires_at = 9000000000000",
    )
    .unwrap();
    assert_eq!(
        role(&url).as_deref(),
        Some("active"),
        "its own term has not lapsed"
    );
    let e = pool.broker(&url, "two").checkout(|_| {}).unwrap_err();
    assert_eq!(code(&e), Some(protocol::STANDBY), "{e}");
    assert_eq!(role(&url).as_deref(), Some("standby"));
    let rows: Vec<(i64, String)> = sql
        .query("SELECT id, client_id FROM leases ORDER BY id", &[])
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows.len(), 1, "only the first lease is stored: {rows:?}");
    assert_eq!(rows[0].0, i64::try_from(one.lease_id()).unwrap());
    let audit: i64 = sql
        .query_one(
            "SELECT COUNT(*) FROM audit_log WHERE action = 'lease.checkout'",
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(audit, 1);
    drop(one);
    running.stop();
}
