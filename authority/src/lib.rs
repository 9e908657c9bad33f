//! # tollgate-authority
//!
//! The vendor side of Tollgate: signing keys, the license ledger and every licensing
//! operation a vendor's support desk, CLI, online activation service or floating license
//! server performs. The servers are thin layers over this crate; none re-implements its
//! logic.
//!
//! An [`Authority`] works on a state directory:
//!
//! ```text
//! <dir>/ledger.sqlite        licenses, revisions, activations, usage licenses, audit log
//! <dir>/keys/<key id>.key    vendor signing key seeds (32 bytes, mode 0600)
//! <dir>/keys/root.key        the vendor root key seed (32 bytes, mode 0600): certifies and
//!                            retires signing keys, never signs licenses
//! ```
//!
//! With the `postgres` feature, [`Authority::open_postgres`] keeps the ledger in PostgreSQL
//! instead (same schema, same migrations, same statements); the keys stay in `<dir>/keys/`.
//!
//! | operation | method |
//! |---|---|
//! | create or import the root key | [`Authority::create_root_key`], [`Authority::import_root_key`], [`Authority::root_public_key`] |
//! | create / rotate the signing key (certified by the root) | [`Authority::create_signing_key`], [`Authority::rotate_signing_key`] |
//! | retire a signing key (root-signed key list) | [`Authority::retire_key`], [`Authority::key_list`], [`Authority::key_certificates`], [`Authority::trust_bundle`] |
//! | suspend, resume, revoke a license | [`Authority::suspend`], [`Authority::resume`], [`Authority::revoke`] |
//! | issue a license (key + signed license) | [`Authority::issue`] |
//! | answer a usage request with a usage license | [`Authority::fulfil`], [`Authority::fulfil_with`] (refresh only), [`Authority::fulfil_many`] (group commit) |
//! | process a deactivation code | [`Authority::deactivate`] |
//! | restore an activation lost with its host | [`Authority::restore`] |
//! | add features, extend subscriptions | [`Authority::upgrade`] |
//! | shop purchases: record an order, apply the payment provider's events (issue or upgrade, idempotent by event id), show a purchase to its token's holder | [`Authority::create_purchase`], [`Authority::attach_checkout`], [`Authority::payment_event`], [`Authority::purchase_status`] |
//! | metered usage: import signed usage reports (judged link by link, merged into totals, queued for billing), totals, flags, the billing outbox | [`Authority::import_usage`], [`Authority::usage_totals`], [`Authority::usage_flags`], [`Authority::claim_meter_events`], [`Authority::meter_event_sent`], [`Authority::meter_event_failed`] |
//! | look things up | [`Authority::list_licenses`], [`Authority::get_license`], [`Authority::list_activations`], [`Authority::audit_log`], [`Authority::public_keys`] |
//!
//! The ledger's storage layer is also available for other state ([`SqlStore`]: the same SQLite
//! settings and the same numbered migrations recorded in `schema_migrations`); the floating
//! license server keeps its leases in one.
//!
//! Every call takes the current time (`now`, Unix seconds) from its caller, and every
//! operation is a single ledger transaction that takes the write lock first, so several
//! processes can share a directory and a seat is never handed out twice.
//!
//! ```
//! use tollgate_authority::{Authority, IssueSpec};
//! use tollgate_core::*;
//!
//! let dir = tempfile::tempdir()?;
//! let mut vendor = Authority::open(dir.path())?;
//! vendor.create_signing_key(1_700_000_000)?;
//!
//! let mut spec = IssueSpec::new("chariot", "ACME");
//! spec.features.push(Feature { name: "mqtt-server".into(), kind: FeatureKind::Perpetual });
//! let issued = vendor.issue(spec, 1_700_000_000)?;
//!
//! // The host, given `issued.key`, makes a usage request.
//! // (At least the grant's threshold of components, of two kinds or more: the vendor refuses
//! // weaker fingerprints.)
//! let fp = Fingerprint::from_components(vec![
//!     Component::derive(ComponentKind::MachineId, b"4c4c4544-0042", b"chariot-salt"),
//!     Component::derive(ComponentKind::Mac, b"00:1b:44:11:3a:b7", b"chariot-salt"),
//!     Component::derive(ComponentKind::Mac, b"00:1b:44:11:3a:b8", b"chariot-salt"),
//! ])?;
//! let device = DeviceKey::from_seed(&[3; 32]);
//! let req = UsageRequest::create(&issued.key, &device, "chariot", "4.2.0", 1, 1_700_000_100, &fp)?;
//!
//! // The vendor answers it; the host verifies the answer.
//! let answer = vendor.fulfil(&req.to_armor(), DeploymentModel::Offline, 1_700_000_200)?;
//! let verifier = Verifier::new("chariot", vendor.keyring()?);
//! let ent = verifier.verify(&answer.usage_license, &fp, 1_700_000_300)?;
//! assert!(ent.has_feature("mqtt-server", 1_700_000_300));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

mod activations;
mod audit;
mod authority;
pub mod commerce;
mod error;
mod export;
mod fulfilment;
mod keys;
mod keystore;
mod ledger;
mod licenses;
mod marketplace;
pub mod policy;
mod records;
mod spec;
pub mod usage;

pub use authority::{Authority, DEFAULT_ACTOR, KEYS_DIR, LEDGER_FILE};
pub use commerce::{
    Delivery, DeliverySeal, NewPurchase, Order, OrderItem, OrderLine, PaymentEvent, PaymentOutcome,
    PurchaseRecord, PurchaseState, PurchaseView,
};
pub use error::{AuthorityError, LedgerError, Result};
pub use export::{export_root, RootFormat};
pub use marketplace::MarketplaceInstance;
pub use records::{
    Activation, ActivationStatus, AuditEntry, KeyStatus, LicenseRecord, LicenseStatus,
    SigningKeyInfo, TransferPolicy,
};
pub use spec::{
    AuthorityConfig, Extension, Freed, FulfilItem, FulfilMode, Fulfilled, IssueSpec, Issued,
    NewExpiry, UpgradeSpec, DEFAULT_FINGERPRINT_THRESHOLD, DEFAULT_MIN_FINGERPRINT_KINDS,
    DEFAULT_RAPID_TRANSFER_SECS,
};
pub use tollgate_storage::{Migration, SqlStore, SqlTx, SqlValue};
pub use usage::{
    meter_event_expired, meter_identifier, period_range, verdict_accepted, verdict_name,
    MeterEvent, MeterEventStatus, StoredUsageReport, UsageChain, UsageFilter, UsageFlag,
    UsageImport, UsageOutcome, UsageResolution, UsageTotal, MAX_METER_IDENTIFIER,
    MAX_USAGE_REPORTS, METER_EVENT_WINDOW_SECS,
};

/// The ledger schema version this build writes (the highest migration it knows).
pub fn schema_version() -> u32 {
    ledger::latest_version()
}
