//! Two vendor processes fulfilling the last seat of the same licenses at the same moment:
//! exactly one wins each seat.
//!
//! The parent test spawns this very test binary twice, selecting the `race_child` test with an
//! environment variable; without that variable `race_child` does nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tollgate_authority::Authority;
use tollgate_core::DeploymentModel;

const ENV_DIR: &str = "TOLLGATE_AUTHORITY_RACE_DIR";
const ENV_ROLE: &str = "TOLLGATE_AUTHORITY_RACE_ROLE";
const LICENSES: usize = 8;

fn wait_for(path: &Path, limit: Duration) {
    let start = Instant::now();
    while !path.exists() {
        assert!(
            start.elapsed() < limit,
            "timed out waiting for {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// The child: opens its own Authority (own connection, own process), waits for the start
/// signal, then fulfils one request per license and writes the outcomes.
#[test]
fn race_child() {
    let (Ok(dir), Ok(role)) = (std::env::var(ENV_DIR), std::env::var(ENV_ROLE)) else {
        return;
    };
    let dir = PathBuf::from(dir);
    let mut v = Authority::open(dir.join("vendor")).unwrap();
    v.set_actor(format!("process-{role}")).unwrap();
    let requests = fs::read_to_string(dir.join(format!("requests-{role}"))).unwrap();
    fs::write(dir.join(format!("ready-{role}")), "").unwrap();
    wait_for(&dir.join("go"), Duration::from_secs(60));
    let mut out = String::new();
    for req in requests.lines() {
        match v.fulfil(req, DeploymentModel::Offline, T0 + 10) {
            Ok(f) => out.push_str(&format!("ok {} {}\n", f.license_id, f.activation_id)),
            Err(e) => out.push_str(&format!("err {}\n", e.code())),
        }
    }
    fs::write(dir.join(format!("result-{role}")), out).unwrap();
}

#[test]
fn two_processes_race_for_the_last_seat() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mut v = Authority::open(dir.join("vendor")).unwrap();
    v.create_signing_key(T0).unwrap();

    // Each license has two seats; one is taken, so the race is for the last one.
    let (a, b) = (Host::new(1), Host::new(2));
    let (mut reqs_a, mut reqs_b) = (String::new(), String::new());
    for i in 0..LICENSES {
        let issued = v.issue(chariot(2), T0).unwrap();
        let first = Host::new(100 + i as u8);
        v.fulfil(&first.request(&issued.key, 1), DeploymentModel::Offline, T0)
            .unwrap();
        reqs_a.push_str(&a.request(&issued.key, 1));
        reqs_a.push('\n');
        reqs_b.push_str(&b.request(&issued.key, 1));
        reqs_b.push('\n');
    }
    fs::write(dir.join("requests-a"), reqs_a).unwrap();
    fs::write(dir.join("requests-b"), reqs_b).unwrap();

    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = ["a", "b"]
        .into_iter()
        .map(|role| {
            Command::new(&exe)
                .args(["race_child", "--exact", "--nocapture", "--test-threads=1"])
                .env(ENV_DIR, dir)
                .env(ENV_ROLE, role)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for role in ["a", "b"] {
        wait_for(&dir.join(format!("ready-{role}")), Duration::from_secs(60));
    }
    fs::write(dir.join("go"), "").unwrap();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "child failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    let results: Vec<Vec<String>> = ["a", "b"]
        .iter()
        .map(|role| {
            fs::read_to_string(dir.join(format!("result-{role}")))
                .unwrap()
                .lines()
                .map(str::to_owned)
                .collect()
        })
        .collect();
    let mut wins = [0usize; 2];
    assert_eq!((results[0].len(), results[1].len()), (LICENSES, LICENSES));
    for (i, (ra, rb)) in results[0].iter().zip(&results[1]).enumerate() {
        let outcome = (ra.starts_with("ok "), rb.starts_with("ok "));
        assert!(
            outcome == (true, false) || outcome == (false, true),
            "license {}: a = {ra}, b = {rb}",
            i + 1
        );
        let loser = if outcome.0 { rb } else { ra };
        assert_eq!(loser, "err 303", "the loser sees SeatsExhausted");
        wins[usize::from(outcome.1)] += 1;

        let rec = v.get_license(i as u64 + 1).unwrap();
        assert_eq!((rec.active_activations, rec.total_activations), (2, 2));
    }
    eprintln!("wins: a = {}, b = {}", wins[0], wins[1]);
}
