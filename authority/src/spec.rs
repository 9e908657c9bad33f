//! The inputs and outputs of the [`crate::Authority`] operations.

use std::time::Duration;

use tollgate_core::{DeploymentModel, Feature, Grant, License, LicenseKey, Models, UsageRequest};

use crate::records::TransferPolicy;

/// The default k of the k-of-n fingerprint match ([`IssueSpec::fingerprint_threshold`]).
pub const DEFAULT_FINGERPRINT_THRESHOLD: u8 = 3;

/// Settings of an [`crate::Authority`] that are not stored in the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthorityConfig {
    /// Online activations get `refresh_deadline = now + online_refresh_secs`. Default 7 days.
    pub online_refresh_secs: u64,
    /// Floating activations (the license server's own activation) get
    /// `refresh_deadline = now + s` when `Some(s)` and the grant sets no offline refresh
    /// period (the grant's `offline_refresh_secs` wins); `None` (the default) means no
    /// deadline.
    pub floating_refresh_secs: Option<u64>,
    /// How long a call waits for another process's write lock before failing with
    /// [`crate::AuthorityError::Busy`]. Default 10 seconds.
    pub busy_timeout: Duration,
    /// The fewest distinct fingerprint component kinds (machine id, DMI UUID, MAC, disk, …) a
    /// usage request must carry, whatever the grant's threshold: a request with fewer is
    /// refused with [`crate::AuthorityError::WeakFingerprint`]. Default
    /// [`DEFAULT_MIN_FINGERPRINT_KINDS`] (2).
    pub min_fingerprint_kinds: u8,
    /// A new seat taken within this many seconds after another seat of the same license was
    /// freed is recorded as a rapid transfer (audit event `rapid_transfer`, shown by
    /// `vendor show`). Default [`DEFAULT_RAPID_TRANSFER_SECS`] (30 minutes).
    pub rapid_transfer_secs: u64,
}

/// The default of [`AuthorityConfig::min_fingerprint_kinds`].
pub const DEFAULT_MIN_FINGERPRINT_KINDS: u8 = 2;

/// The default of [`AuthorityConfig::rapid_transfer_secs`]: 30 minutes.
pub const DEFAULT_RAPID_TRANSFER_SECS: u64 = 30 * 60;

impl Default for AuthorityConfig {
    fn default() -> Self {
        AuthorityConfig {
            online_refresh_secs: 7 * 24 * 3600,
            floating_refresh_secs: None,
            busy_timeout: Duration::from_secs(10),
            min_fingerprint_kinds: DEFAULT_MIN_FINGERPRINT_KINDS,
            rapid_transfer_secs: DEFAULT_RAPID_TRANSFER_SECS,
        }
    }
}

/// What to put in a new license. Build it with [`IssueSpec::new`] and set the fields you need.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssueSpec {
    /// The product id, e.g. `chariot` (1–64 bytes, no control characters).
    pub product: String,
    /// The vendor's reference for the customer (1–64 bytes).
    pub customer: String,
    /// The features, with unique names.
    pub features: Vec<Feature>,
    /// The deployment models allowed (at least one).
    pub models: Models,
    /// Maximum simultaneous activations (seats), whatever their model; at least 1.
    pub max_activations: u32,
    /// Concurrent seats a floating license server may lend; at least 1 when the floating
    /// model is allowed.
    pub floating_seats: u32,
    /// Start of validity (Unix seconds, inclusive).
    pub not_before: Option<u64>,
    /// End of validity (Unix seconds, exclusive).
    pub not_after: Option<u64>,
    /// How many fingerprint components must match on the host.
    pub fingerprint_threshold: u8,
    /// The longest a floating license server may lend a feature set to a client that borrows
    /// it, in seconds; 0 (the default): no borrowing.
    pub max_borrow_secs: u32,
    /// How often the license may move between devices (deactivations and restores);
    /// default [`TransferPolicy::DEFAULT`], 4 per 365 days.
    pub transfers: TransferPolicy,
    /// The offline refresh period, in seconds (signed in the grant); 0 (the default): none.
    /// Recommended for offline licenses (e.g. 365 days). When set, every offline and
    /// floating usage license gets `refresh_deadline = issued_at + offline_refresh_secs`: a
    /// host renews with a new round trip before it, and a restored copy of a deactivated host
    /// stops working at it.
    pub offline_refresh_secs: u32,
    /// How far a host's clock may go back before the host reports a clock rollback, in
    /// seconds (signed in the grant); default [`Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS`].
    pub rollback_tolerance_secs: u32,
}

impl IssueSpec {
    /// The first revision's grant (license id 0: the ledger assigns it), unchecked.
    pub(crate) fn into_first_grant(self) -> Grant {
        Grant {
            license_id: 0,
            revision: 1,
            product: self.product,
            customer: self.customer,
            features: self.features,
            models: self.models,
            max_activations: self.max_activations,
            floating_seats: self.floating_seats,
            not_before: self.not_before,
            not_after: self.not_after,
            fingerprint_threshold: self.fingerprint_threshold,
            max_borrow_secs: self.max_borrow_secs,
            rollback_tolerance_secs: self.rollback_tolerance_secs,
            offline_refresh_secs: self.offline_refresh_secs,
        }
    }
}

impl IssueSpec {
    /// A spec with no features, the online and offline models, one activation, no floating
    /// seats, no validity window and the default fingerprint threshold.
    pub fn new(product: impl Into<String>, customer: impl Into<String>) -> Self {
        IssueSpec {
            product: product.into(),
            customer: customer.into(),
            features: Vec::new(),
            models: Models::of(&[DeploymentModel::Online, DeploymentModel::Offline]),
            max_activations: 1,
            floating_seats: 0,
            not_before: None,
            not_after: None,
            fingerprint_threshold: DEFAULT_FINGERPRINT_THRESHOLD,
            max_borrow_secs: 0,
            transfers: TransferPolicy::DEFAULT,
            offline_refresh_secs: 0,
            rollback_tolerance_secs: Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS,
        }
    }
}

/// A newly issued license: the key to give the customer and the signed license record.
///
/// The key exists only here: the ledger keeps its lookup id and a hash, never the key.
#[derive(Debug)]
pub struct Issued {
    /// The license key, for the customer. Shown once.
    pub key: LicenseKey,
    /// The signed license (revision 1).
    pub license: License,
}

/// The answer to a usage request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fulfilled {
    /// The usage license to send back to the host (`TGUL:…`).
    pub usage_license: String,
    /// The activation (seat) it belongs to.
    pub activation_id: u64,
    /// The license.
    pub license_id: u64,
    /// Whether this request took a new seat (false for a refresh or upgrade round trip by an
    /// already active host, and for a repeated request).
    pub new_activation: bool,
    /// Whether this exact request had been answered before: `usage_license` is then the
    /// stored answer, byte for byte.
    pub repeated: bool,
    /// The license revision whose grant the usage license carries.
    pub revision: u32,
    /// The usage license's refresh deadline (online and floating activations).
    pub refresh_deadline: Option<u64>,
    /// This new seat is a rapid transfer: it follows the freeing of this activation of the
    /// same license within [`AuthorityConfig::rapid_transfer_secs`].
    pub rapid_transfer_after: Option<u64>,
}

/// A freed seat.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freed {
    /// The license.
    pub license_id: u64,
    /// The activation that no longer holds a seat.
    pub activation_id: u64,
}

/// A subscription's new expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NewExpiry {
    /// Expires at this time (Unix seconds); must be later than the current expiry.
    At(u64),
    /// Extended by this many seconds from its current expiry, or from `now` if it has already
    /// lapsed (a customer renewing late does not pay for the lapsed time).
    By(u64),
}

/// Extends one subscription feature (e.g. another year of `support`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extension {
    /// The subscription feature's name.
    pub feature: String,
    /// Its new expiry.
    pub to: NewExpiry,
}

/// What an upgrade changes. Every field left at its default changes nothing; an upgrade must
/// change something.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UpgradeSpec {
    /// Features to add. A feature the license already has is refused with
    /// [`crate::AuthorityError::FeatureExists`], except a subscription given again with a later
    /// expiry, which extends the existing one.
    pub add_features: Vec<Feature>,
    /// Subscriptions to extend.
    pub extend: Vec<Extension>,
    /// A new maximum of simultaneous activations. Lowering it below the number in use frees
    /// nothing: new activations are refused until enough are deactivated.
    pub max_activations: Option<u32>,
    /// A new number of floating seats.
    pub floating_seats: Option<u32>,
    /// A new set of allowed deployment models.
    pub models: Option<Models>,
    /// A new end of validity: `Some(Some(t))` sets it, `Some(None)` removes it.
    pub not_after: Option<Option<u64>>,
    /// A new customer reference.
    pub customer: Option<String>,
    /// A new fingerprint threshold.
    pub fingerprint_threshold: Option<u8>,
    /// A new offline refresh period in seconds (0: none). Hosts get it with their next
    /// round trip.
    pub offline_refresh_secs: Option<u32>,
    /// A new rollback tolerance in seconds.
    pub rollback_tolerance_secs: Option<u32>,
}

/// Whether answering a usage request may take a new seat
/// ([`crate::Authority::fulfil_with`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum FulfilMode {
    /// An activation: a device without an active activation takes a free seat; a device that
    /// has one refreshes it (no new seat). What [`crate::Authority::fulfil`] does.
    #[default]
    Activate,
    /// A refresh (online reactivation) only: the device must hold an active activation of the
    /// license, which gets the current grant and a new refresh deadline; otherwise
    /// [`crate::AuthorityError::NoActiveActivation`].
    Refresh,
}

/// One usage request of a batch for [`crate::Authority::fulfil_many`], decoded and with its
/// self-signature checked ([`FulfilItem::parse`]) — work done before the batch takes the
/// ledger's write lock, on whichever thread received the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FulfilItem {
    /// The usage request.
    pub request: UsageRequest,
    /// The deployment model to fulfil it for.
    pub model: DeploymentModel,
    /// Whether it may take a new seat.
    pub mode: FulfilMode,
}

impl FulfilItem {
    /// Decodes an armored usage request (`TGRQ:…`) and checks its self-signature. Fails with
    /// the core's error ([`crate::AuthorityError::Core`]) for a malformed, damaged or forged
    /// request.
    pub fn parse(
        request_armored: &str,
        model: DeploymentModel,
        mode: FulfilMode,
    ) -> crate::Result<Self> {
        Ok(FulfilItem {
            request: UsageRequest::from_armor(request_armored)?,
            model,
            mode,
        })
    }
}
