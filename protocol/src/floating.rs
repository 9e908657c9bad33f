//! The floating license server's HTTP protocol (`tollgate-floating`, and the SDK's
//! `FloatingClient`): paths, JSON bodies, and the server's stable refusal codes (340–347,
//! reported by the client as `SdkError::ServiceRefused`).

use serde::{Deserialize, Serialize};

/// The OpenAPI 3 document of the floating server (lease, admin and operations routes), served
/// at `/openapi.json`. `tollgate-floating`'s tests check it against the router, route by route.
pub const OPENAPI: &str = include_str!("../openapi/floating.json");

/// `POST /v1/floating/checkout`.
pub const CHECKOUT: &str = "/v1/floating/checkout";
/// `POST /v1/floating/heartbeat`.
pub const HEARTBEAT: &str = "/v1/floating/heartbeat";
/// `POST /v1/floating/release`.
pub const RELEASE: &str = "/v1/floating/release";

/// 340: every seat of a requested feature is taken (HTTP 409).
pub const NO_SEAT: u32 = 340;
/// 341: the floating license has no such feature, or it is not active (HTTP 403).
pub const FEATURE_NOT_LICENSED: u32 = 341;
/// 342: no lease with this id and secret: released, reclaimed after its term, or never
/// issued (HTTP 404). The client checks out again.
pub const LEASE_NOT_FOUND: u32 = 342;
/// 343: borrowing is not allowed by the license, or not for that long (HTTP 403).
pub const BORROW_NOT_ALLOWED: u32 = 343;
/// 344: the server holds no valid floating license (none installed, expired, refresh
/// overdue) (HTTP 503).
pub const NOT_LICENSED: u32 = 344;
/// 345: the server's clock went backwards; it issues no leases until it is right again
/// (HTTP 503).
pub const CLOCK_ROLLBACK: u32 = 345;
/// 346: this client id holds a live lease, and only the holder of its secret renews or
/// releases it: a clone of the client (same fingerprint and instance), or the client
/// restarted without its secret, which gets a seat when the old lease ends (HTTP 409).
pub const LEASE_HELD: u32 = 346;
/// 347: this instance is the standby of a pool served by two (HTTP 503): the client asks
/// the other one (the message names the active's URL when the standby knows it).
pub const STANDBY: u32 = 347;

/// A checkout: which client wants which features.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The client id, 32 hex digits (`tollgate_core::ClientId`).
    pub client_id: String,
    /// The feature set (any order; duplicates ignored).
    pub features: Vec<String>,
    /// A name for the admin view (host name, broker name). Optional.
    #[serde(default)]
    pub client_name: String,
    /// Borrow for this many seconds instead of a renewable lease.
    #[serde(default)]
    pub borrow_secs: Option<u64>,
    /// A fresh random nonce for this request, 32 hex digits: the lease token that answers it
    /// carries it (core/SPEC.md §10a.6), so that a token captured earlier cannot answer it.
    /// Required (an empty or missing nonce is a bad request).
    #[serde(default)]
    pub nonce: String,
}

/// A granted checkout.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckoutResponse {
    /// The lease id (the same across renewals).
    pub lease_id: u64,
    /// The secret that authorizes heartbeats and the release (32 hex digits). Only the
    /// client holding the lease knows it.
    pub secret: String,
    /// The lease token (`TGLS:…`).
    pub lease: String,
    /// The server's floating usage license (`TGUL:…`), which certifies its key.
    pub floating_license: String,
    /// When the server signed the lease (server clock).
    pub issued_at: u64,
    /// When it ends unless renewed (server clock).
    pub expires_at: u64,
    /// How often the server expects a heartbeat, in seconds.
    pub heartbeat_secs: u64,
    /// Whether this is a borrowed lease.
    pub borrowed: bool,
}

/// A heartbeat or a release: the lease and its secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeaseRef {
    /// The lease id.
    pub lease_id: u64,
    /// Its secret.
    pub secret: String,
    /// For a heartbeat, a fresh random nonce (32 hex digits) that the renewed token carries;
    /// required there, ignored by a release.
    #[serde(default)]
    pub nonce: String,
}

/// A renewed lease.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewResponse {
    /// The lease id.
    pub lease_id: u64,
    /// The new lease token.
    pub lease: String,
    /// When the server signed it.
    pub issued_at: u64,
    /// When it ends unless renewed.
    pub expires_at: u64,
}
