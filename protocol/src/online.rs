//! The online activation service's HTTP protocol (`tollgate-server`, and the SDK's
//! `OnlineClient`): paths and the JSON bodies of the licensing calls. Times are Unix seconds;
//! artifacts are their armored text.

use serde::{Deserialize, Serialize};

/// The OpenAPI 3 document of the whole service (licensing, admin and operations routes), served
/// at `/openapi.json`. `tollgate-server`'s tests check it against the router, route by route.
pub const OPENAPI: &str = include_str!("../openapi/online.json");

/// `POST /v1/activate`: usage request in, online usage license out (may take a seat).
pub const ACTIVATE: &str = "/v1/activate";
/// `POST /v1/refresh`: the same activation gets the current grant and a new refresh deadline.
pub const REFRESH: &str = "/v1/refresh";
/// `POST /v1/deactivate`: deactivation code in, seat freed.
pub const DEACTIVATE: &str = "/v1/deactivate";
/// `POST /v1/offline/fulfil`: usage request in, offline usage license out.
pub const OFFLINE_FULFIL: &str = "/v1/offline/fulfil";

/// 306: the deactivation code was already processed (the seat is free already).
pub const ALREADY_DEACTIVATED: u32 = 306;

/// `{"request": "TGRQ:…"}`: activate, refresh, offline fulfil.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageRequestIn {
    /// The armored usage request.
    pub request: String,
}

/// `{"code": "TGDC:…"}`: deactivate.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeactivationIn {
    /// The armored deactivation code.
    pub code: String,
}

/// A usage license answering a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageLicenseOut {
    /// The armored usage license (`TGUL:…`), to be verified by the host.
    pub usage_license: String,
    /// The license.
    pub license_id: u64,
    /// The activation (seat).
    pub activation_id: u64,
    /// The license revision it carries.
    pub revision: u32,
    /// Whether the request took a new seat.
    pub new_activation: bool,
    /// Whether the same request had been answered before (the stored answer is returned).
    /// Absent means `false`.
    #[serde(default)]
    pub repeated: bool,
    /// Refresh before this time (online usage licenses).
    pub refresh_deadline: Option<u64>,
}

/// A freed seat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreedOut {
    /// The license.
    pub license_id: u64,
    /// The activation whose seat was freed.
    pub activation_id: u64,
}
