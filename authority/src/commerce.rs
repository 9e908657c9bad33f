//! Purchases: what a customer ordered through the online service's shop, and what the
//! payment provider's events do to it.
//!
//! The service (not this crate) talks to the payment provider; this module keeps the ledger's
//! side, each step one transaction:
//!
//! 1. [`Authority::create_purchase`] records an [`Order`] (a new license, or an upgrade of an
//!    existing one, whose already-licensed features are refused except subscription years)
//!    and returns the purchase id and its unguessable token (only the token's SHA-256 is
//!    stored).
//! 2. [`Authority::attach_checkout`] records the checkout session created for it.
//! 3. [`Authority::payment_event`] applies one verified provider event, idempotently by event
//!    id: a paid checkout issues or upgrades the license in the same transaction that records
//!    the event, with audit entries; the new license's key is kept only sealed under the
//!    service's [`DeliverySeal`] (whose secret lives outside the ledger).
//! 4. [`Authority::purchase_status`] shows the purchase, and the key, to the token's holder.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tollgate_core::{hex_string, Feature, FeatureKind, Grant, LicenseKey, MeterPeriod, Models};
use zeroize::Zeroizing;

use crate::audit::audit;
use crate::error::{AuthorityError, Result};
use crate::keystore::random;
use crate::ledger::{parse_hex, PurchaseRow, Tx};
use crate::licenses::{check_grant, issue_in, upgrade_in};
use crate::records::{LicenseStatus, TransferPolicy};
use crate::spec::{Extension, NewExpiry, UpgradeSpec};
use crate::Authority;

/// One year of a subscription bought through the shop, in seconds (365 days).
pub const YEAR_SECS: u64 = 365 * 24 * 3600;

/// What one line of an order grants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OrderItem {
    /// A perpetual feature (e.g. MQTT Server). Never sold twice on one license.
    Perpetual,
    /// Years of a subscription (e.g. Support): the line's quantity is the number of years.
    /// Always for sale: bought again, it extends the subscription.
    Years,
    /// A metered feature (e.g. IoT Bridge for Snowflake) with its quota per period; billed
    /// by usage. Never sold twice on one license.
    Metered {
        /// Units allowed per period.
        quota: u64,
        /// The accounting period.
        period: MeterPeriod,
    },
}

/// One line of an [`Order`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderLine {
    /// The catalogue's item id (what the payment provider's line item is for).
    pub sku: String,
    /// The license feature it grants.
    pub feature: String,
    /// What it grants.
    pub item: OrderItem,
    /// How many: years for [`OrderItem::Years`], 1 otherwise.
    pub quantity: u32,
}

/// What a customer orders: a new license, or an upgrade of `upgrade_of`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// The product (a new license is for this product; an upgraded one must be).
    pub product: String,
    /// The license upgraded, or `None` for a new license.
    pub upgrade_of: Option<u64>,
    /// Where the key (or the upgrade's confirmation) is sent; also a new license's customer.
    pub email: String,
    /// The deployment models of a new license.
    pub models: Models,
    /// The lines, at least one, each feature at most once.
    pub lines: Vec<OrderLine>,
}

/// A purchase's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PurchaseState {
    /// Created; the customer has not paid (yet).
    Open,
    /// The checkout completed with a payment still pending (e.g. a bank debit).
    AwaitingPayment,
    /// Paid, and the license issued or upgraded.
    Completed,
    /// The delayed payment failed.
    Failed,
    /// The checkout session expired unpaid.
    Expired,
    /// Paid, but the ledger could not apply it (e.g. the feature was licensed meanwhile by
    /// another purchase): the vendor must look at it; nothing was merged silently.
    NeedsAttention,
}

impl PurchaseState {
    /// The stable name stored in the ledger and shown by the API.
    pub fn name(self) -> &'static str {
        match self {
            PurchaseState::Open => "open",
            PurchaseState::AwaitingPayment => "awaiting_payment",
            PurchaseState::Completed => "completed",
            PurchaseState::Failed => "failed",
            PurchaseState::Expired => "expired",
            PurchaseState::NeedsAttention => "needs_attention",
        }
    }

    /// Parses [`PurchaseState::name`].
    pub fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "open" => PurchaseState::Open,
            "awaiting_payment" => PurchaseState::AwaitingPayment,
            "completed" => PurchaseState::Completed,
            "failed" => PurchaseState::Failed,
            "expired" => PurchaseState::Expired,
            "needs_attention" => PurchaseState::NeedsAttention,
            _ => return None,
        })
    }

    fn settled(self) -> bool {
        matches!(
            self,
            PurchaseState::Completed | PurchaseState::NeedsAttention
        )
    }
}

/// A purchase just created: its id and the token that authorises reading its status (shown
/// once, never stored).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPurchase {
    /// The purchase id.
    pub id: u64,
    /// 64 hex digits of OS randomness.
    pub token: String,
}

impl std::fmt::Debug for NewPurchase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewPurchase")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// What a payment provider event says about a purchase, once its signature was verified.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaymentEvent {
    /// The provider's event id (`evt_…`): an event is applied once.
    pub event_id: String,
    /// The provider's event type (`checkout.session.completed`, …).
    pub event_type: String,
    /// The checkout session it is about.
    pub session_id: String,
    /// Our purchase id, as the session carried it (`client_reference_id`).
    pub purchase_id: Option<u64>,
    /// Whether the session says it is paid (`payment_status` `paid` or
    /// `no_payment_required`).
    pub paid: bool,
    /// The provider's customer (`cus_…`), kept with a paid purchase: metered usage of the
    /// license is billed to it.
    pub customer: Option<String>,
}

/// A license issued or upgraded by a paid purchase.
#[derive(Clone, Debug)]
pub struct Delivery {
    /// The purchase.
    pub purchase_id: u64,
    /// The license issued or upgraded.
    pub license_id: u64,
    /// Its new revision.
    pub revision: u32,
    /// The new license's key (`None` for an upgrade: the customer has it).
    pub key: Option<LicenseKey>,
    /// Where to send it.
    pub email: String,
    /// The product.
    pub product: String,
    /// The order.
    pub order: Order,
}

/// What [`Authority::payment_event`] did.
#[derive(Clone, Debug)]
pub enum PaymentOutcome {
    /// The event id was already processed: nothing changed.
    Duplicate,
    /// Recorded, nothing else to do (an event type the shop does not act on, an unknown
    /// purchase, or a purchase already settled); the reason is stable text.
    Ignored(&'static str),
    /// The purchase moved to this state.
    State(u64, PurchaseState),
    /// Paid: the license was issued or upgraded.
    Delivered(Box<Delivery>),
}

impl PaymentOutcome {
    /// A stable one-word description (stored with the event, answered to the provider).
    pub fn name(&self) -> &'static str {
        match self {
            PaymentOutcome::Duplicate => "duplicate",
            PaymentOutcome::Ignored(_) => "ignored",
            PaymentOutcome::State(_, s) => s.name(),
            PaymentOutcome::Delivered(_) => "delivered",
        }
    }
}

/// A purchase as its token's holder sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseView {
    /// The purchase id.
    pub id: u64,
    /// Its state.
    pub state: PurchaseState,
    /// The order.
    pub order: Order,
    /// The license issued or upgraded (once completed; for an upgrade, from the start).
    pub license_id: Option<u64>,
    /// The revision the purchase produced, once completed.
    pub revision: Option<u32>,
    /// The new license's key, once completed (new licenses only).
    pub license_key: Option<String>,
    /// When it was created and last changed.
    pub created_at: u64,
    /// When it last changed.
    pub updated_at: u64,
}

/// A purchase as the vendor sees it (no token, no key).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PurchaseRecord {
    /// The purchase id.
    pub id: u64,
    /// Its state.
    pub state: PurchaseState,
    /// The order.
    pub order: Order,
    /// The license issued or upgraded.
    pub license_id: Option<u64>,
    /// The revision the purchase produced.
    pub revision: Option<u32>,
    /// The checkout session.
    pub session_id: Option<String>,
    /// The payment provider's customer.
    pub customer: Option<String>,
    /// Why it needs attention, if it does.
    pub note: Option<String>,
    /// When it was created.
    pub created_at: u64,
    /// When it last changed.
    pub updated_at: u64,
}

/// Seals license keys at rest in the ledger under a secret the service keeps outside it
/// (its configuration): a copy of the ledger alone yields no key. Per purchase id, a
/// keystream and a tag from HMAC-SHA-256 under the secret.
pub struct DeliverySeal {
    secret: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for DeliverySeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DeliverySeal(<redacted>)")
    }
}

type HmacSha256 = Hmac<Sha256>;

impl DeliverySeal {
    /// A seal under `secret` (any length; at least 32 bytes of randomness recommended).
    pub fn new(secret: &[u8]) -> Self {
        let mut s = Zeroizing::new([0u8; 32]);
        s.copy_from_slice(&Sha256::digest(secret));
        DeliverySeal { secret: s }
    }

    fn mac(&self, label: &[u8], id: u64, data: &[u8]) -> [u8; 32] {
        // HMAC zero-pads a key shorter than the block: the 32-byte secret in a 64-byte block
        // is the same MAC, and a block-sized key cannot be refused.
        let mut block = Zeroizing::new([0u8; 64]);
        if let Some(head) = block.get_mut(..32) {
            head.copy_from_slice(self.secret.as_ref());
        }
        let mut m = <HmacSha256 as KeyInit>::new(
            hmac::digest::generic_array::GenericArray::from_slice(block.as_ref()),
        );
        m.update(label);
        m.update(&id.to_be_bytes());
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// Seals `key` (at most 32 bytes) for purchase `id`: hex of ciphertext + 16-byte tag.
    pub fn seal(&self, id: u64, key: &str) -> Result<String> {
        let pad = self.mac(b"tollgate/purchase-key/stream/v1", id, &[]);
        if key.len() > pad.len() {
            return Err(AuthorityError::invalid("a license key is at most 32 bytes"));
        }
        let ct: Vec<u8> = key.bytes().zip(pad).map(|(k, p)| k ^ p).collect();
        let tag = self.mac(b"tollgate/purchase-key/tag/v1", id, &ct);
        let mut out = ct;
        out.extend_from_slice(tag.get(..16).unwrap_or_default());
        Ok(hex_string(&out))
    }

    /// Opens what [`DeliverySeal::seal`] sealed for purchase `id`; a wrong secret or a
    /// damaged value is [`AuthorityError::Corrupt`].
    pub fn open(&self, id: u64, sealed: &str) -> Result<String> {
        let bytes = hex_bytes(sealed).ok_or(AuthorityError::Corrupt("sealed key"))?;
        if bytes.len() < 16 || bytes.len() > 48 {
            return Err(AuthorityError::Corrupt("sealed key"));
        }
        let (ct, tag) = bytes.split_at(bytes.len() - 16);
        let want = self.mac(b"tollgate/purchase-key/tag/v1", id, ct);
        if !bool::from(want.get(..16).unwrap_or_default().ct_eq(tag)) {
            return Err(AuthorityError::Corrupt(
                "sealed key does not open (wrong delivery secret?)",
            ));
        }
        let pad = self.mac(b"tollgate/purchase-key/stream/v1", id, &[]);
        let plain: Vec<u8> = ct.iter().zip(pad).map(|(c, p)| c ^ p).collect();
        String::from_utf8(plain).map_err(|_| AuthorityError::Corrupt("sealed key"))
    }
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    hex::decode(s).ok()
}

fn token_hash(token: &str) -> String {
    hex_string(&Sha256::digest(token.as_bytes()))
}

/// Whether a feature may be bought for a license whose current grant is `grant` (`None`: a
/// new license): everything for a new license; for an upgrade, features the license lacks,
/// and subscription years at any time.
pub fn offered(grant: Option<&Grant>, feature: &str, item: OrderItem) -> bool {
    match (grant, item) {
        (None, _) | (Some(_), OrderItem::Years) => true,
        (Some(g), _) => !g.features.iter().any(|f| f.name == feature),
    }
}

/// Checks an order's shape (lines, quantities, e-mail) and, for an upgrade, refuses a feature
/// the license already has ([`AuthorityError::FeatureExists`]) except subscription years.
pub fn check_order(order: &Order, grant: Option<&Grant>) -> Result<()> {
    if order.lines.is_empty() {
        return Err(AuthorityError::invalid("an order needs at least one item"));
    }
    if order.email.len() > 254 || !order.email.contains('@') || order.email.contains(['\r', '\n']) {
        return Err(AuthorityError::invalid(
            "a valid e-mail address is required",
        ));
    }
    for (i, l) in order.lines.iter().enumerate() {
        if order
            .lines
            .iter()
            .skip(i + 1)
            .any(|o| o.feature == l.feature)
        {
            return Err(AuthorityError::invalid(format!(
                "feature `{}` ordered twice",
                l.feature
            )));
        }
        let max = if l.item == OrderItem::Years { 10 } else { 1 };
        if l.quantity == 0 || l.quantity > max {
            return Err(AuthorityError::invalid(format!(
                "quantity of `{}` must be 1-{max}",
                l.sku
            )));
        }
        if !offered(grant, &l.feature, l.item) {
            return Err(AuthorityError::FeatureExists(l.feature.clone()));
        }
    }
    if let Some(g) = grant {
        if g.product != order.product {
            return Err(AuthorityError::WrongProduct {
                licensed: g.product.clone(),
                requested: order.product.clone(),
            });
        }
    }
    Ok(())
}

fn years(quantity: u32) -> Result<u64> {
    u64::from(quantity)
        .checked_mul(YEAR_SECS)
        .ok_or(AuthorityError::invalid("too many years"))
}

/// The features a new license gets for `order`.
fn new_features(order: &Order, now: u64) -> Result<Vec<Feature>> {
    order
        .lines
        .iter()
        .map(|l| {
            let kind = match l.item {
                OrderItem::Perpetual => FeatureKind::Perpetual,
                OrderItem::Years => FeatureKind::Subscription {
                    expires_at: now
                        .checked_add(years(l.quantity)?)
                        .ok_or(AuthorityError::invalid("expiry overflows"))?,
                },
                OrderItem::Metered { quota, period } => FeatureKind::Metered { quota, period },
            };
            Ok(Feature {
                name: l.feature.clone(),
                kind,
            })
        })
        .collect()
}

/// The upgrade `order` makes to a license whose grant is `grant`.
fn upgrade_spec(order: &Order, grant: &Grant, now: u64) -> Result<UpgradeSpec> {
    let mut spec = UpgradeSpec::default();
    for l in &order.lines {
        let has = grant.features.iter().find(|f| f.name == l.feature);
        match (l.item, has) {
            (OrderItem::Years, Some(f)) if matches!(f.kind, FeatureKind::Subscription { .. }) => {
                spec.extend.push(Extension {
                    feature: l.feature.clone(),
                    to: NewExpiry::By(years(l.quantity)?),
                });
            }
            (_, Some(_)) => return Err(AuthorityError::FeatureExists(l.feature.clone())),
            (_, None) => {
                let single = Order {
                    lines: vec![l.clone()],
                    ..order.clone()
                };
                spec.add_features.extend(new_features(&single, now)?);
            }
        }
    }
    Ok(spec)
}

impl Authority {
    /// Records a new purchase of `order` and returns its id and token. For an upgrade the
    /// license must exist ([`AuthorityError::LicenseNotFound`]), not be suspended or revoked,
    /// be for the order's product, and not have the ordered features already (except
    /// subscription years: [`AuthorityError::FeatureExists`]).
    pub fn create_purchase(&mut self, order: &Order, now: u64) -> Result<NewPurchase> {
        let mut raw = Zeroizing::new([0u8; 32]);
        random(raw.as_mut())?;
        let token = hex_string(raw.as_ref());
        let hash = token_hash(&token);
        let order_json = serde_json::to_string(order)
            .map_err(|_| AuthorityError::invalid("unserialisable order"))?;
        let actor = self.actor.as_str();
        let id = self.ledger.write(|tx| {
            let grant = match order.upgrade_of {
                None => None,
                Some(lid) => {
                    let rec = tx
                        .license_record(lid)?
                        .ok_or(AuthorityError::LicenseNotFound(lid))?;
                    match rec.status {
                        LicenseStatus::Active => {}
                        LicenseStatus::Suspended => {
                            return Err(AuthorityError::LicenseSuspended(lid))
                        }
                        LicenseStatus::Revoked => return Err(AuthorityError::LicenseRevoked(lid)),
                    }
                    Some(rec.grant)
                }
            };
            check_order(order, grant.as_ref())?;
            let id = tx.next_id("purchase")?;
            tx.insert_purchase(&PurchaseRow {
                id,
                token_hash: hash.clone(),
                kind: if order.upgrade_of.is_some() {
                    "upgrade".into()
                } else {
                    "new".into()
                },
                product: order.product.clone(),
                license_id: order.upgrade_of,
                email: order.email.clone(),
                order_json: order_json.clone(),
                status: PurchaseState::Open.name().into(),
                session_id: None,
                revision: None,
                key_sealed: None,
                note: None,
                customer: None,
                created_at: now,
                updated_at: now,
            })?;
            audit(
                tx,
                now,
                actor,
                "purchase.created",
                order.upgrade_of,
                None,
                json!({"purchase_id": id, "order": order}),
            )?;
            Ok(id)
        })?;
        Ok(NewPurchase { id, token })
    }

    /// Records the checkout session created for an open purchase.
    pub fn attach_checkout(&mut self, purchase_id: u64, session_id: &str, now: u64) -> Result<()> {
        self.ledger.write(|tx| {
            let mut p = tx
                .purchase(purchase_id)?
                .ok_or(AuthorityError::PurchaseNotFound(purchase_id))?;
            if p.status != PurchaseState::Open.name() || p.session_id.is_some() {
                return Err(AuthorityError::invalid(
                    "the purchase already has a checkout",
                ));
            }
            p.session_id = Some(session_id.to_owned());
            p.updated_at = now;
            tx.update_purchase(&p)
        })
    }

    /// Applies one verified payment provider event, once per event id, in one transaction:
    /// the event is recorded whatever it does, so a redelivery is [`PaymentOutcome::Duplicate`]
    /// and changes nothing. A paid checkout (`checkout.session.completed` with a paid session,
    /// or `checkout.session.async_payment_succeeded`) of a purchase not yet settled issues or
    /// upgrades the license here, with audit entries; events arriving late (an expiry or a
    /// failure after the payment) change nothing. A paid upgrade that can no longer apply
    /// (the feature was licensed meanwhile) leaves the purchase `needs_attention`.
    pub fn payment_event(
        &mut self,
        ev: &PaymentEvent,
        seal: &DeliverySeal,
        now: u64,
    ) -> Result<PaymentOutcome> {
        if ev.event_id.is_empty() || ev.event_id.len() > 255 {
            return Err(AuthorityError::invalid("event id must be 1-255 bytes"));
        }
        let (keys, actor) = (&self.keys, self.actor.as_str());
        self.ledger.write(|tx| {
            if tx.payment_event_seen(&ev.event_id)? {
                return Ok(PaymentOutcome::Duplicate);
            }
            let outcome = apply_event(tx, keys, actor, ev, seal, now)?;
            let purchase_id = match &outcome {
                PaymentOutcome::State(id, _) => Some(*id),
                PaymentOutcome::Delivered(d) => Some(d.purchase_id),
                _ => ev.purchase_id,
            };
            let recorded = match &outcome {
                PaymentOutcome::Ignored(why) => format!("ignored: {why}"),
                other => other.name().to_owned(),
            };
            tx.insert_payment_event(&ev.event_id, &ev.event_type, purchase_id, &recorded, now)?;
            Ok(outcome)
        })
    }

    /// A purchase, for the holder of its token (compared in constant time); any other caller
    /// gets [`AuthorityError::PurchaseNotFound`], as for an unknown id.
    pub fn purchase_status(
        &mut self,
        purchase_id: u64,
        token: &str,
        seal: &DeliverySeal,
    ) -> Result<PurchaseView> {
        let p = self
            .ledger
            .read(|tx| tx.purchase(purchase_id))?
            .ok_or(AuthorityError::PurchaseNotFound(purchase_id))?;
        let want = parse_hex::<32>(&p.token_hash).ok_or(AuthorityError::Corrupt("token hash"))?;
        let got: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if !bool::from(want.ct_eq(&got)) {
            return Err(AuthorityError::PurchaseNotFound(purchase_id));
        }
        let license_key = p
            .key_sealed
            .as_deref()
            .map(|s| seal.open(p.id, s))
            .transpose()?;
        Ok(PurchaseView {
            id: p.id,
            state: PurchaseState::from_name(&p.status)
                .ok_or(AuthorityError::Corrupt("purchase status"))?,
            order: serde_json::from_str(&p.order_json)
                .map_err(|_| AuthorityError::Corrupt("order JSON"))?,
            license_id: p.license_id,
            revision: p.revision,
            license_key,
            created_at: p.created_at,
            updated_at: p.updated_at,
        })
    }

    /// The newest `limit` purchases, newest first, in `state` or in any: what the vendor's
    /// console lists (e.g. the paid upgrades left `needs_attention`).
    pub fn list_purchases(
        &mut self,
        state: Option<PurchaseState>,
        limit: u32,
    ) -> Result<Vec<PurchaseRecord>> {
        let rows = self
            .ledger
            .read(|tx| tx.purchases(state.map(PurchaseState::name), limit))?;
        rows.into_iter()
            .map(|p| {
                Ok(PurchaseRecord {
                    id: p.id,
                    state: PurchaseState::from_name(&p.status)
                        .ok_or(AuthorityError::Corrupt("purchase status"))?,
                    order: serde_json::from_str(&p.order_json)
                        .map_err(|_| AuthorityError::Corrupt("order JSON"))?,
                    license_id: p.license_id,
                    revision: p.revision,
                    session_id: p.session_id,
                    customer: p.customer,
                    note: p.note,
                    created_at: p.created_at,
                    updated_at: p.updated_at,
                })
            })
            .collect()
    }

    /// The payment provider's customer that a license's metered usage is billed to: the one
    /// of its latest completed purchase, if any.
    pub fn billing_customer(&mut self, license_id: u64) -> Result<Option<String>> {
        self.ledger.read(|tx| tx.billing_customer(license_id))
    }

    /// How many payment provider events the ledger has recorded.
    pub fn payment_event_count(&mut self) -> Result<u64> {
        self.ledger.read(|tx| tx.count_payment_events())
    }
}

fn apply_event(
    tx: &Tx<'_>,
    keys: &crate::keystore::KeyStore,
    actor: &str,
    ev: &PaymentEvent,
    seal: &DeliverySeal,
    now: u64,
) -> Result<PaymentOutcome> {
    enum Act {
        Pay,
        Pending,
        Fail,
        Expire,
    }
    let act = match (ev.event_type.as_str(), ev.paid) {
        ("checkout.session.completed", true) | ("checkout.session.async_payment_succeeded", _) => {
            Act::Pay
        }
        ("checkout.session.completed", false) => Act::Pending,
        ("checkout.session.async_payment_failed", _) => Act::Fail,
        ("checkout.session.expired", _) => Act::Expire,
        _ => return Ok(PaymentOutcome::Ignored("event type not handled")),
    };
    let Some(pid) = ev.purchase_id else {
        return Ok(PaymentOutcome::Ignored("no purchase reference"));
    };
    let Some(mut p) = tx.purchase(pid)? else {
        return Ok(PaymentOutcome::Ignored("unknown purchase"));
    };
    if p.session_id.as_deref() != Some(ev.session_id.as_str()) {
        return Ok(PaymentOutcome::Ignored(
            "session does not match the purchase",
        ));
    }
    let state =
        PurchaseState::from_name(&p.status).ok_or(AuthorityError::Corrupt("purchase status"))?;
    if state.settled() {
        return Ok(PaymentOutcome::Ignored("purchase already settled"));
    }
    let order: Order =
        serde_json::from_str(&p.order_json).map_err(|_| AuthorityError::Corrupt("order JSON"))?;
    let to = match act {
        Act::Pay => return deliver(tx, keys, actor, ev, seal, &mut p, order, now),
        Act::Pending if state == PurchaseState::Open => PurchaseState::AwaitingPayment,
        Act::Fail if matches!(state, PurchaseState::Open | PurchaseState::AwaitingPayment) => {
            PurchaseState::Failed
        }
        Act::Expire if state == PurchaseState::Open => PurchaseState::Expired,
        _ => {
            return Ok(PaymentOutcome::Ignored(
                "event does not change the purchase",
            ))
        }
    };
    p.status = to.name().into();
    p.updated_at = now;
    tx.update_purchase(&p)?;
    audit(
        tx,
        now,
        actor,
        "purchase.state",
        p.license_id,
        None,
        json!({"purchase_id": p.id, "state": to.name(), "event_id": ev.event_id}),
    )?;
    Ok(PaymentOutcome::State(p.id, to))
}

#[allow(clippy::too_many_arguments)]
fn deliver(
    tx: &Tx<'_>,
    keys: &crate::keystore::KeyStore,
    actor: &str,
    ev: &PaymentEvent,
    seal: &DeliverySeal,
    p: &mut PurchaseRow,
    order: Order,
    now: u64,
) -> Result<PaymentOutcome> {
    let (license_id, revision, key) = match order.upgrade_of {
        None => {
            let mut spec = crate::spec::IssueSpec::new(order.product.clone(), order.email.clone());
            spec.features = new_features(&order, now)?;
            spec.models = order.models;
            let grant = spec.into_first_grant();
            check_grant(&grant)?;
            let issued = issue_in(tx, keys, actor, grant, TransferPolicy::default(), now)?;
            let id = issued.license.grant().license_id;
            p.key_sealed = Some(seal.seal(p.id, &issued.key.expose())?);
            (id, 1, Some(issued.key))
        }
        Some(lid) => {
            let current = tx
                .license_record(lid)?
                .ok_or(AuthorityError::LicenseNotFound(lid))?;
            let spec = match upgrade_spec(&order, &current.grant, now) {
                Ok(s) => s,
                Err(e) => {
                    p.status = PurchaseState::NeedsAttention.name().into();
                    p.note = Some(e.to_string());
                    p.updated_at = now;
                    tx.update_purchase(p)?;
                    audit(
                        tx,
                        now,
                        actor,
                        "purchase.needs_attention",
                        Some(lid),
                        None,
                        json!({"purchase_id": p.id, "event_id": ev.event_id,
                               "problem": e.to_string()}),
                    )?;
                    return Ok(PaymentOutcome::State(p.id, PurchaseState::NeedsAttention));
                }
            };
            let license = upgrade_in(tx, keys, actor, lid, &spec, now)?;
            (lid, license.grant().revision, None)
        }
    };
    p.status = PurchaseState::Completed.name().into();
    if ev.customer.is_some() {
        p.customer.clone_from(&ev.customer);
    }
    p.license_id = Some(license_id);
    p.revision = Some(revision);
    p.updated_at = now;
    tx.update_purchase(p)?;
    audit(
        tx,
        now,
        actor,
        "purchase.completed",
        Some(license_id),
        None,
        json!({"purchase_id": p.id, "event_id": ev.event_id, "session_id": ev.session_id,
               "revision": revision, "upgrade": order.upgrade_of.is_some()}),
    )?;
    Ok(PaymentOutcome::Delivered(Box::new(Delivery {
        purchase_id: p.id,
        license_id,
        revision,
        key,
        email: order.email.clone(),
        product: order.product.clone(),
        order,
    })))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn seal_round_trip_and_tamper() {
        let s = DeliverySeal::new(b"delivery secret for tests 0123456789");
        let sealed = s.seal(7, "ENF9Y-M3N56-ZXJYP-CEX7C-N8WUD").unwrap();
        assert_eq!(sealed.len(), 2 * (29 + 16));
        assert_eq!(s.open(7, &sealed).unwrap(), "ENF9Y-M3N56-ZXJYP-CEX7C-N8WUD");
        assert!(matches!(
            s.open(8, &sealed),
            Err(AuthorityError::Corrupt(_))
        ));
        let other = DeliverySeal::new(b"another secret");
        assert!(matches!(
            other.open(7, &sealed),
            Err(AuthorityError::Corrupt(_))
        ));
        let mut bad = sealed.into_bytes();
        bad[0] = if bad[0] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(bad).unwrap();
        assert!(matches!(s.open(7, &bad), Err(AuthorityError::Corrupt(_))));
        assert!(matches!(s.open(7, "zz"), Err(AuthorityError::Corrupt(_))));
    }

    #[test]
    fn upgrades_offer_missing_features_and_years() {
        let g = Grant {
            license_id: 1,
            revision: 1,
            product: "chariot".into(),
            customer: "c".into(),
            features: vec![
                Feature {
                    name: "mqtt-server".into(),
                    kind: FeatureKind::Perpetual,
                },
                Feature {
                    name: "support".into(),
                    kind: FeatureKind::Subscription { expires_at: 10 },
                },
            ],
            models: Models::of(&[tollgate_core::DeploymentModel::Online]),
            max_activations: 1,
            floating_seats: 0,
            not_before: None,
            not_after: None,
            fingerprint_threshold: 2,
            max_borrow_secs: 0,
            rollback_tolerance_secs: 3600,
            offline_refresh_secs: 0,
        };
        assert!(!offered(Some(&g), "mqtt-server", OrderItem::Perpetual));
        assert!(offered(Some(&g), "support", OrderItem::Years));
        let metered = OrderItem::Metered {
            quota: 5,
            period: MeterPeriod::Month,
        };
        assert!(offered(Some(&g), "snowflake", metered));
        assert!(offered(None, "mqtt-server", OrderItem::Perpetual));
        let order = Order {
            product: "chariot".into(),
            upgrade_of: Some(1),
            email: "ops@example.com".into(),
            models: g.models,
            lines: vec![OrderLine {
                sku: "mqtt".into(),
                feature: "mqtt-server".into(),
                item: OrderItem::Perpetual,
                quantity: 1,
            }],
        };
        assert!(
            matches!(check_order(&order, Some(&g)), Err(AuthorityError::FeatureExists(f)) if f == "mqtt-server")
        );
        let years = Order {
            lines: vec![OrderLine {
                sku: "support".into(),
                feature: "support".into(),
                item: OrderItem::Years,
                quantity: 2,
            }],
            ..order.clone()
        };
        check_order(&years, Some(&g)).unwrap();
        let spec = upgrade_spec(&years, &g, 100).unwrap();
        assert_eq!(
            spec.extend,
            vec![Extension {
                feature: "support".into(),
                to: NewExpiry::By(2 * YEAR_SECS)
            }]
        );
        let bad_mail = Order {
            email: "nobody".into(),
            ..years
        };
        assert!(matches!(
            check_order(&bad_mail, Some(&g)),
            Err(AuthorityError::InvalidArgument(_))
        ));
    }
}
