//! The marketplace activation calls of the online activation service: a cloud marketplace
//! instance (AWS, Azure) proves what it is with the cloud's SIGNED instance identity and gets an
//! online usage license without a license key.
//!
//! The host sends its usage request (`TGRQ:…`, signed by its device key, carrying no license
//! key: lookup id and key proof are all zeros) together with the identity exactly as the
//! cloud's metadata service served it. The service checks the cloud's signature against the
//! certificates the vendor configured, the product code, the document's freshness (and, on
//! Azure, the nonce, which is derived from the usage request: [`azure_nonce`]), maps the
//! product code to the vendor's license and answers like `/v1/activate`.

use serde::{Deserialize, Serialize};

/// `POST /v1/marketplace/activate`: identity + usage request in, online usage license out
/// (takes the instance's seat).
pub const ACTIVATE: &str = "/v1/marketplace/activate";
/// `POST /v1/marketplace/refresh`: the same instance and device get the current grant and a
/// new refresh deadline (never a new seat).
pub const REFRESH: &str = "/v1/marketplace/refresh";

/// `aws` in [`CloudIdentity::cloud`].
pub const AWS: &str = "aws";
/// `azure` in [`CloudIdentity::cloud`].
pub const AZURE: &str = "azure";

/// The cloud's signed instance identity, as its metadata service served it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloudIdentity {
    /// [`AWS`] or [`AZURE`].
    pub cloud: String,
    /// AWS: the instance identity document, byte for byte as served
    /// (`/latest/dynamic/instance-identity/document`), or, without a `signature`, the base64
    /// PKCS#7 SignedData that embeds it (`/latest/dynamic/instance-identity/rsa2048`, RSA
    /// SHA-256). Azure: the `signature` field of the
    /// attested data document (`/metadata/attested/document`): base64 PKCS#7 SignedData that
    /// holds the signed JSON.
    pub document: String,
    /// AWS: the base64 RSA-SHA256 signature of the document
    /// (`/latest/dynamic/instance-identity/signature`); absent when `document` is PKCS#7.
    /// Absent on Azure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// `{"request": "TGRQ:…", "identity": {…}}`: marketplace activate and refresh.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketplaceIn {
    /// The armored usage request (no license key in it).
    pub request: String,
    /// The instance's signed identity.
    pub identity: CloudIdentity,
}

/// The 10-digit nonce a host asks Azure's attested data document for: the usage request's id
/// (16 bytes) read as a big-endian number, modulo 10^10, zero-padded. The service recomputes
/// it from the request it receives, so a document fetched for another request (a replay, or a
/// document from another instance) is refused.
pub fn azure_nonce(request_id: &[u8; 16]) -> String {
    let n = u128::from_be_bytes(*request_id) % 10_000_000_000;
    format!("{n:010}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_is_ten_digits_of_the_request_id() {
        assert_eq!(azure_nonce(&[0; 16]), "0000000000");
        let mut id = [0u8; 16];
        id[15] = 42;
        assert_eq!(azure_nonce(&id), "0000000042");
        assert_eq!(azure_nonce(&[0xff; 16]), "1768211455");
    }
}
