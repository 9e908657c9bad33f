//! The online service's shop (issue 15): what a license can buy, a purchase through Stripe
//! Checkout, its status, and Stripe's webhook. Used by the License page and the service.
//!
//! | code | name | status | meaning |
//! |---|---|---|---|
//! | 350 | `PurchaseNotFound` | 404 | no such purchase, or the purchase token does not match |
//! | 351 | `NotForSale` | 422 | an item the catalogue does not sell, or a quantity it does not allow |
//! | 352 | `WebhookSignature` | 400 | a webhook without a valid, fresh `Stripe-Signature` |
//! | 353 | `PaymentProvider` | 502 | Stripe could not be reached or refused the call |
//! | 354 | `ShopClosed` | 404 | the service has no shop configured |
//!
//! Features the license already has answer 314 `FeatureExists` (409), except subscription
//! years, which can always be bought.

use serde::{Deserialize, Serialize};

/// `POST /v1/shop/offers`: what can be bought (for a license, given its key).
pub const OFFERS: &str = "/v1/shop/offers";
/// `POST /v1/shop/purchases`: a purchase; answers the Stripe Checkout URL.
pub const PURCHASES: &str = "/v1/shop/purchases";
/// `GET /v1/shop/purchases/{id}` with `Authorization: Bearer <purchase token>`.
pub const PURCHASE: &str = "/v1/shop/purchases/{id}";
/// `POST /v1/shop/stripe/webhook`: Stripe's signed events.
pub const STRIPE_WEBHOOK: &str = "/v1/shop/stripe/webhook";

/// 350: no such purchase, or a wrong purchase token.
pub const PURCHASE_NOT_FOUND: u32 = 350;
/// 351: not in the catalogue, or a quantity the catalogue does not allow.
pub const NOT_FOR_SALE: u32 = 351;
/// 352: the webhook's `Stripe-Signature` is missing, malformed, stale or wrong.
pub const WEBHOOK_SIGNATURE: u32 = 352;
/// 353: Stripe could not be reached or refused the call.
pub const PAYMENT_PROVIDER: u32 = 353;
/// 354: the service has no shop configured.
pub const SHOP_CLOSED: u32 = 354;

/// `{"license_key": "…"}` (or `{}` for a new license).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffersIn {
    /// The license to upgrade; absent for a new license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_key: Option<String>,
}

/// One item for sale.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    /// The catalogue's item id.
    pub sku: String,
    /// Display name (e.g. "MQTT Server Support").
    pub name: String,
    /// The license feature it grants.
    pub feature: String,
    /// `perpetual`, `years` (quantity = years) or `metered`.
    pub kind: String,
    /// The largest quantity allowed (1 except for years).
    pub max_quantity: u32,
}

/// The answer of `POST /v1/shop/offers`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OffersOut {
    /// The product sold.
    pub product: String,
    /// The license the offers are for, if a key was given.
    pub license_id: Option<u64>,
    /// What can be bought: everything for a new license; for an upgrade, the features the
    /// license lacks and subscription years.
    pub offers: Vec<Offer>,
}

/// One line of a purchase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseItemIn {
    /// The catalogue's item id.
    pub sku: String,
    /// How many (years for a subscription); default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
}

/// The body of `POST /v1/shop/purchases`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PurchaseIn {
    /// What to buy.
    pub items: Vec<PurchaseItemIn>,
    /// Where the key (or the upgrade's confirmation) is e-mailed.
    pub email: String,
    /// The license to upgrade (pre-filled on the Stripe page); absent for a new license.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license_key: Option<String>,
}

/// The answer of `POST /v1/shop/purchases` (201).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseOut {
    /// The purchase id.
    pub purchase_id: u64,
    /// The token that authorises `GET /v1/shop/purchases/{id}` (64 hex digits; shown once).
    pub token: String,
    /// Where to send the customer: the Stripe Checkout page.
    pub checkout_url: String,
    /// Stripe's Checkout Session id (`cs_…`); not an authorisation.
    pub session_id: String,
}

/// The answer of `GET /v1/shop/purchases/{id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PurchaseStatusOut {
    /// The purchase id.
    pub purchase_id: u64,
    /// `open`, `awaiting_payment`, `completed`, `failed`, `expired` or `needs_attention`.
    pub status: String,
    /// Whether it upgrades an existing license.
    pub upgrade: bool,
    /// The license issued or upgraded.
    pub license_id: Option<u64>,
    /// The license revision the purchase produced.
    pub revision: Option<u32>,
    /// The new license's key, once completed (new licenses only).
    pub license_key: Option<String>,
}

/// The answer to Stripe.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookOut {
    /// Always true: the event was verified and recorded (or was a redelivery).
    pub received: bool,
    /// `delivered`, `duplicate`, `ignored`, or the purchase's new state.
    pub outcome: String,
}
