//! Several `tollgate-server` replicas on one PostgreSQL ledger: the seat count stays exact
//! when clients race over the replicas, and `kill -9` of one replica under load loses no
//! activation a client was given and leaks no seat (its clients fail over to the survivor).
//! PostgreSQL only (SQLite is one process's file); skipped loudly without
//! `TOLLGATE_TEST_PG_URL`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::Duration;

use common::*;
use tollgate_authority::ActivationStatus;
use tollgate_core::LicenseKey;
use tollgate_sdk::SdkError;
use tollgate_server::Running;

/// The PostgreSQL backend, or `None` (with a notice) when there is none to test on.
fn postgres() -> Option<Backend> {
    backends()
        .into_iter()
        .find(|b| matches!(b, Backend::Postgres(_)))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn two_hundred_clients_race_over_three_replicas_for_five_seats() {
    const CLIENTS: usize = 200;
    const SEATS: u32 = 5;
    const THREADS: usize = 50;
    let Some(b) = postgres() else { return };
    let vendor = Vendor::new(&b);
    // Three replicas: three services, each with its own pool and group-commit writer, on one
    // database (in this process; the kill test below runs them as processes).
    let replicas: Vec<Running> = (0..3).map(|_| vendor.start()).collect();
    let urls: Vec<String> = replicas.iter().map(Running::url).collect();
    let (id, key) = issue(&urls[0], chariot_spec(SEATS));
    let key = LicenseKey::parse(&key).unwrap();
    let reqs = Arc::new(device_requests(&key, CLIENTS));
    let barrier = Arc::new(Barrier::new(THREADS));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let (reqs, barrier, urls) = (Arc::clone(&reqs), Arc::clone(&barrier), urls.clone());
            std::thread::spawn(move || {
                let online: Vec<_> = urls.iter().map(|u| client(u)).collect();
                barrier.wait();
                let mut wins = Vec::new();
                for (n, r) in reqs.iter().enumerate().skip(t).step_by(THREADS) {
                    match online[n % online.len()].post_usage_request("/v1/activate", r) {
                        Ok(a) => wins.push(a.activation_id),
                        Err(SdkError::ServiceRefused { code: 303, .. }) => {}
                        Err(e) => panic!("{e:?}"),
                    }
                }
                wins
            })
        })
        .collect();
    let wins: Vec<u64> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    assert_eq!(wins.len(), SEATS as usize, "exactly {SEATS} win");
    assert_eq!(wins.iter().collect::<HashSet<_>>().len(), SEATS as usize);
    assert_eq!(active_seats(&vendor, id), u64::from(SEATS));
    let rec = vendor.authority().get_license(id).unwrap();
    assert_eq!(
        rec.total_activations,
        u64::from(SEATS),
        "no refused request left a row"
    );
    let refused: u64 = replicas
        .iter()
        .map(|r| r.state().metrics.count("activate", "SeatsExhausted"))
        .sum();
    assert_eq!(refused, (CLIENTS - SEATS as usize) as u64);
    // Every replica served its share of the race.
    for r in &replicas {
        assert!(r.state().metrics.count("activate", "SeatsExhausted") > 0);
    }
}

#[test]
fn kill_dash_nine_of_one_replica_loses_nothing_and_leaks_no_seat() {
    const REQUESTS: usize = 600;
    const THREADS: usize = 16;
    const KILL_AFTER: usize = 150;
    let Some(b) = postgres() else { return };
    let vendor = Vendor::new(&b);
    let issued = {
        let mut spec = tollgate_authority::IssueSpec::new("chariot", "ACME");
        spec.max_activations = 100_000;
        vendor.authority().issue(spec, 1_700_000_000).unwrap()
    };
    let license_id = issued.license.grant().license_id;
    let reqs = Arc::new(device_requests(&issued.key, REQUESTS));
    let ports = [free_port(), free_port()];
    let urls: Vec<String> = ports
        .iter()
        .map(|p| format!("http://127.0.0.1:{p}"))
        .collect();
    let mut victim = spawn_server(&vendor, ports[0]);
    let mut survivor = spawn_server(&vendor, ports[1]);

    // Half the clients start on each replica; a client whose replica does not answer sends
    // the same request to the other one (bounded: 200 tries, 50 ms apart).
    let given: Arc<Mutex<BTreeMap<usize, (u64, bool)>>> = Arc::default();
    let before_kill = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (reqs, given, before_kill, urls) = (
                Arc::clone(&reqs),
                Arc::clone(&given),
                Arc::clone(&before_kill),
                urls.clone(),
            );
            std::thread::spawn(move || {
                let agent = http();
                for i in (t..REQUESTS).step_by(THREADS) {
                    let mut answer = None;
                    for attempt in 0..200 {
                        let url = &urls[(t + attempt) % urls.len()];
                        if let Some(a) = activate_once(&agent, url, &reqs[i]) {
                            answer = Some(a);
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(50));
                    }
                    let answer = answer.expect("a replica answered");
                    given.lock().unwrap().insert(i, answer);
                    before_kill.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    assert!(wait_until(Duration::from_secs(120), || before_kill
        .load(Ordering::Relaxed)
        >= KILL_AFTER));
    victim.kill().unwrap(); // SIGKILL
    victim.wait().unwrap();
    let killed_at = before_kill.load(Ordering::Relaxed);
    for w in workers {
        w.join().unwrap();
    }
    survivor.kill().unwrap();
    survivor.wait().unwrap();
    assert!(killed_at < REQUESTS, "killed mid-load ({killed_at})");

    let given = Arc::try_unwrap(given).unwrap().into_inner().unwrap();
    assert_eq!(given.len(), REQUESTS, "every client was answered");
    // One activation per client: a request committed by the killed replica but not answered
    // was answered by the survivor with the same activation (a replay, not a new seat).
    let ids: BTreeSet<u64> = given.values().map(|(aid, _)| *aid).collect();
    assert_eq!(ids.len(), REQUESTS);
    let acts = vendor.authority().list_activations(license_id).unwrap();
    let active: BTreeSet<u64> = acts
        .iter()
        .filter(|a| a.status == ActivationStatus::Active)
        .map(|a| a.id)
        .collect();
    assert_eq!(
        active, ids,
        "every answered activation is committed, none leaked"
    );
    assert_eq!(acts.len(), REQUESTS, "no orphan activation rows");
    let rec = vendor.authority().get_license(license_id).unwrap();
    assert_eq!(
        rec.active_activations, REQUESTS as u64,
        "the seat counter agrees"
    );
    let replayed = given.values().filter(|(_, repeated)| *repeated).count();
    eprintln!(
        "replica killed after {killed_at} answers; {replayed} requests committed by it were \
         answered by the survivor as replays"
    );
}
