//! Seat accounting under contention: 200 clients race for 5 seats, on each backend, through
//! the service (group commit) and straight at the ledger from many connections at once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};

use common::*;
use tollgate_authority::AuthorityError;
use tollgate_core::{
    Component, ComponentKind, DeploymentModel, DeviceKey, Fingerprint, LicenseKey, UsageRequest,
};
use tollgate_sdk::SdkError;

const CLIENTS: usize = 200;
const SEATS: u32 = 5;
const THREADS: usize = 50;

/// `n` usage requests for `key`, each from its own device.
fn requests(key: &str, n: usize) -> Vec<String> {
    let key = LicenseKey::parse(key).unwrap();
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
                &key,
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

#[test]
fn two_hundred_clients_race_for_five_seats_through_the_service() {
    for b in backends() {
        let vendor = Vendor::new(&b);
        let server = vendor.start();
        let url = server.url();
        let (id, key) = issue(&url, chariot_spec(SEATS));
        let reqs = Arc::new(requests(&key, CLIENTS));
        let barrier = Arc::new(Barrier::new(THREADS));
        let handles: Vec<_> = (0..THREADS)
            .map(|t| {
                let (reqs, barrier, url) = (Arc::clone(&reqs), Arc::clone(&barrier), url.clone());
                std::thread::spawn(move || {
                    let online = client(&url);
                    barrier.wait();
                    let mut wins = Vec::new();
                    for r in reqs.iter().skip(t).step_by(THREADS) {
                        match online.post_usage_request("/v1/activate", r) {
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
        assert_eq!(
            wins.len(),
            SEATS as usize,
            "{}: exactly {SEATS} win",
            b.name()
        );
        assert_eq!(wins.iter().collect::<HashSet<_>>().len(), SEATS as usize);
        assert_eq!(active_seats(&vendor, id), u64::from(SEATS));
        let rec = vendor.authority().get_license(id).unwrap();
        assert_eq!(
            rec.total_activations,
            u64::from(SEATS),
            "no refused request left a row"
        );
        assert_eq!(
            server.state().metrics.count("activate", "SeatsExhausted"),
            (CLIENTS - SEATS as usize) as u64
        );
    }
}

#[test]
fn two_hundred_requests_race_on_separate_ledger_connections() {
    for b in backends() {
        let vendor = Vendor::new(&b);
        let mut a = vendor.authority();
        let mut spec = tollgate_authority::IssueSpec::new("chariot", "ACME");
        spec.max_activations = SEATS;
        let issued = a.issue(spec, 1_700_000_000).unwrap();
        let reqs = Arc::new(requests(&issued.key.expose(), CLIENTS));
        let threads = 8;
        let barrier = Arc::new(Barrier::new(threads));
        let vendor = Arc::new(vendor);
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (reqs, barrier, vendor) =
                    (Arc::clone(&reqs), Arc::clone(&barrier), Arc::clone(&vendor));
                std::thread::spawn(move || {
                    let mut a = vendor.authority();
                    barrier.wait();
                    let mut wins = 0;
                    for r in reqs.iter().skip(t).step_by(threads) {
                        loop {
                            match a.fulfil(r, DeploymentModel::Online, 1_700_000_100) {
                                Ok(_) => wins += 1,
                                Err(AuthorityError::SeatsExhausted { .. }) => {}
                                Err(AuthorityError::Busy) => continue,
                                Err(e) => panic!("{e:?}"),
                            }
                            break;
                        }
                    }
                    wins
                })
            })
            .collect();
        let wins: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(wins, SEATS as usize, "{}", b.name());
        assert_eq!(active_seats(&vendor, 1), u64::from(SEATS));
    }
}
