//! The background refresh keeps a broker licensed through an outage up to the refresh
//! deadline, pulls upgrades without a restart, and reports every step.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::mpsc;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use common::*;
use serde_json::json;
use tollgate_sdk::online::{BackgroundRefresh, OnlineClient, RefreshEvent, RefreshPolicy};
use tollgate_sdk::{LicenseState, SdkError};

/// Waits for the first event `pick` accepts.
fn expect(
    rx: &mpsc::Receiver<RefreshEvent>,
    what: &str,
    pick: impl Fn(&RefreshEvent) -> bool,
) -> RefreshEvent {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(e) if pick(&e) => return e,
            Ok(e) => eprintln!("(skipped while waiting for {what}: {e:?})"),
            Err(_) => panic!("no {what} event"),
        }
    }
}

#[test]
fn background_refresh_through_an_outage() {
    let vendor = Vendor::new(&Backend::Sqlite);
    let server = vendor.start_with(|c| c.online_refresh_secs = 3);
    let (url, addr) = (server.url(), server.addr());
    let (id, key) = issue(&url, chariot_spec(1));
    let mut cfg = quick(&url);
    cfg.attempts = 1;
    cfg.connect_timeout = Duration::from_millis(500);
    let online = OnlineClient::new(cfg).unwrap();
    let mut broker = host(1, vendor.root());
    online.activate(&mut broker, &key).unwrap();
    let broker = Arc::new(RwLock::new(broker));
    let policy = RefreshPolicy {
        fraction: 0.5,
        min_interval: Duration::from_millis(200),
        retry_initial: Duration::from_millis(200),
        retry_max: Duration::from_millis(400),
        idle_check: Duration::from_secs(1),
    };
    let (tx, rx) = mpsc::channel();
    let refresher = BackgroundRefresh::start(Arc::clone(&broker), online, policy, move |e| {
        let _ = tx.send(e.clone());
    })
    .unwrap();

    // Refreshes keep coming; an upgrade arrives with the next one, no restart.
    expect(&rx, "refreshed", |e| {
        matches!(e, RefreshEvent::Refreshed { .. })
    });
    let (st, _) = admin(
        &url,
        "POST",
        &format!("/v1/admin/licenses/{id}/upgrade"),
        Some(json!({"add_features": [{"name": "snowflake", "kind": "perpetual"}]})),
    );
    assert_eq!(st, 200);
    expect(&rx, "refreshed to revision 2", |e| {
        matches!(e, RefreshEvent::Refreshed { revision: 2, .. })
    });
    assert!(broker.read().unwrap().has_feature("snowflake"));

    // The service goes down: failures are reported and retried; the broker stays licensed
    // until the refresh deadline, then the license is lost (nothing stops abruptly).
    server.stop();
    expect(&rx, "refresh failed", |e| {
        matches!(
            e,
            RefreshEvent::RefreshFailed {
                error: SdkError::ServiceUnreachable { .. },
                ..
            }
        )
    });
    assert!(
        broker.read().unwrap().has_feature("mqtt-server"),
        "within the grace period"
    );
    expect(
        &rx,
        "license lost",
        |e| matches!(e, RefreshEvent::LicenseLost { error } if error.core() == Some(tollgate_core::Error::RefreshOverdue)),
    );
    {
        let b = broker.read().unwrap();
        assert_eq!(b.status().state, LicenseState::RefreshOverdue);
        assert!(!b.has_feature("mqtt-server"));
    }

    // The service returns: the next retry refreshes and the broker is licensed again.
    let server = vendor.restart_on(addr);
    expect(&rx, "refreshed after the outage", |e| {
        matches!(e, RefreshEvent::Refreshed { .. })
    });
    assert!(broker.read().unwrap().has_feature("mqtt-server"));
    assert_eq!(broker.read().unwrap().status().state, LicenseState::Active);

    // The vendor frees the seat: the refresh is refused for good.
    let aid = vendor.authority().list_activations(id).unwrap()[0].id;
    vendor
        .authority()
        .restore(id, aid, "moved", "support", 1_800_000_000)
        .unwrap();
    // (The restarted service gives 7-day deadlines: ask for the refresh now, as the status
    // page's Reactivate button would.)
    refresher.refresh_now();
    expect(&rx, "license lost for good", |e| {
        matches!(
            e,
            RefreshEvent::LicenseLost {
                error: SdkError::ServiceRefused { code: 323, .. }
            }
        )
    });
    refresher.stop();
    server.stop();
}
