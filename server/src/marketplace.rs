//! Marketplace activation: checking a cloud's signed instance identity (AWS instance identity
//! document + RSA-SHA256 signature, or the document as RSA PKCS#7 from the `rsa2048`
//! endpoint; Azure attested data, PKCS#7) against the certificates the
//! vendor configured, and mapping its product code to the vendor's license.
//!
//! ```toml
//! [marketplace]
//! aws_certificates = ["/etc/tollgate/aws/us-east-1-rsa.pem"]   # AWS's regional RSA certificates
//! azure_certificates = ["/etc/tollgate/azure/metadata.pem"]    # the attested-data signer's
//! max_age_secs = 600        # Azure: the document must be younger than this
//! clock_skew_secs = 300     # tolerance on the cloud's times
//! sweep_interval_secs = 300 # free gone instances' seats this often (0: never)
//!
//! [[marketplace.products]]
//! cloud = "aws"
//! code = "6n2l0ypdkezisk6gnr8wuh1sl"   # the AMI's marketplace product code
//! license_id = 12                    # the vendor's license whose grant these instances get
//!
//! [[marketplace.products]]
//! cloud = "azure"
//! code = "acme/chariot/standard"     # plan publisher/product/name of the attested document
//! license_id = 13
//! ```
//!
//! Refusals (HTTP 403 unless noted): 380 `MarketplaceDisabled` (no `[marketplace]` section),
//! 381 `IdentityForged` (the signature does not verify with any configured certificate),
//! 382 `UnknownProductCode` (no product code of the document is mapped), 383 `IdentityStale`
//! (the document's time is outside the allowed window), 384 `NonceMismatch` (Azure: not the
//! nonce of this request), 387 `BadIdentity` (422: not a document of the cloud named). The
//! ledger adds 385 `InstanceMismatch` and 386 `NotMarketplaceRequest`.
//!
//! A gone instance stops refreshing. Every `sweep_interval_secs` the service frees each
//! marketplace seat whose refresh deadline has passed (audited as
//! `marketplace.instance_gone`), without waiting for another marketplace call
//! ([`sweep_task`]); it stops with the service's graceful shutdown.

use std::path::PathBuf;

use axum::http::StatusCode;
use base64::Engine;
use cms::content_info::ContentInfo;
use cms::signed_data::SignedData;
use der::{Decode, DecodePem, Encode};
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::sha2::{Digest, Sha256};
use rsa::signature::Verifier;
use rsa::RsaPublicKey;
use serde::Deserialize;
use tollgate_authority::MarketplaceInstance;
use tollgate_protocol::marketplace::{azure_nonce, CloudIdentity, AWS, AZURE};
use tollgate_service_kit::ApiError;
use x509_cert::Certificate;

/// 380: the service has no marketplace configuration.
pub const MARKETPLACE_DISABLED: u32 = 380;
/// 381: the identity's signature does not verify with the configured cloud certificates.
pub const IDENTITY_FORGED: u32 = 381;
/// 382: no product code of the document is one the vendor configured.
pub const UNKNOWN_PRODUCT_CODE: u32 = 382;
/// 383: the document's time is outside the allowed window.
pub const IDENTITY_STALE: u32 = 383;
/// 384: the Azure document's nonce is not the one derived from this request.
pub const NONCE_MISMATCH: u32 = 384;
/// 387: the identity is not a well-formed document of the cloud it names.
pub const BAD_IDENTITY: u32 = 387;

/// The `[marketplace]` section of the service's configuration.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct MarketplaceConfig {
    /// PEM files of the certificates whose RSA keys sign AWS instance identity documents (AWS
    /// publishes one per region; list the regions the product is sold in).
    pub aws_certificates: Vec<PathBuf>,
    /// PEM files of the certificates whose RSA keys sign Azure attested data documents.
    pub azure_certificates: Vec<PathBuf>,
    /// Azure: the most seconds since the document's `createdOn`. Default 600.
    pub max_age_secs: u64,
    /// Tolerance on the cloud's times, in seconds. Default 300.
    pub clock_skew_secs: u64,
    /// The product codes the vendor sells, each mapped to a license.
    pub products: Vec<ProductMapping>,
    /// How often the seats of gone instances (refresh deadline passed) are freed, in
    /// seconds; 0 turns the sweep off. Default 300.
    pub sweep_interval_secs: u64,
}

impl Default for MarketplaceConfig {
    fn default() -> Self {
        MarketplaceConfig {
            aws_certificates: Vec::new(),
            azure_certificates: Vec::new(),
            max_age_secs: 600,
            clock_skew_secs: 300,
            products: Vec::new(),
            sweep_interval_secs: 300,
        }
    }
}

/// One marketplace product code and the vendor's license its instances are fulfilled under.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ProductMapping {
    /// `aws` or `azure`.
    pub cloud: String,
    /// AWS: a `marketplaceProductCodes` entry. Azure: `publisher/product/name` of the
    /// document's `plan`.
    pub code: String,
    /// The license (issued by the vendor, allowing the `online` model) whose grant and seats
    /// these instances use.
    pub license_id: u64,
}

/// The configured checks, with the certificates' keys loaded.
#[derive(Clone, Debug)]
pub struct Marketplace {
    aws: Vec<RsaPublicKey>,
    azure: Vec<RsaPublicKey>,
    config: MarketplaceConfig,
}

/// The RSA public key of a PEM certificate.
fn load_key(path: &PathBuf) -> Result<RsaPublicKey, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let cert = Certificate::from_pem(pem.as_bytes())
        .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
    rsa_key(&cert).ok_or_else(|| format!("{}: not an RSA certificate", path.display()))
}

fn rsa_key(cert: &Certificate) -> Option<RsaPublicKey> {
    let spki = cert.tbs_certificate.subject_public_key_info.to_der().ok()?;
    RsaPublicKey::from_public_key_der(&spki).ok()
}

fn refuse(
    status: StatusCode,
    code: u32,
    name: &'static str,
    message: impl Into<String>,
) -> ApiError {
    ApiError::new(status, code, name, message.into())
}

fn forged() -> ApiError {
    refuse(
        StatusCode::FORBIDDEN,
        IDENTITY_FORGED,
        "IdentityForged",
        "the instance identity is not signed by a configured cloud certificate",
    )
}

fn bad(message: impl Into<String>) -> ApiError {
    refuse(
        StatusCode::UNPROCESSABLE_ENTITY,
        BAD_IDENTITY,
        "BadIdentity",
        message,
    )
}

fn stale(message: impl Into<String>) -> ApiError {
    refuse(
        StatusCode::FORBIDDEN,
        IDENTITY_STALE,
        "IdentityStale",
        message,
    )
}

/// 380, for a service without a `[marketplace]` section.
pub fn disabled() -> ApiError {
    refuse(
        StatusCode::FORBIDDEN,
        MARKETPLACE_DISABLED,
        "MarketplaceDisabled",
        "this service does not activate marketplace instances",
    )
}

/// The AWS instance identity document's fields used here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AwsDocument {
    instance_id: String,
    #[serde(default)]
    marketplace_product_codes: Option<Vec<String>>,
    pending_time: String,
}

/// Azure's attested data, the signed JSON.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureDocument {
    nonce: String,
    vm_id: String,
    #[serde(default)]
    plan: Option<AzurePlan>,
    time_stamp: AzureTimes,
}

#[derive(Deserialize)]
struct AzurePlan {
    #[serde(default)]
    name: String,
    #[serde(default)]
    product: String,
    #[serde(default)]
    publisher: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AzureTimes {
    created_on: String,
    expires_on: String,
}

impl Marketplace {
    /// Loads the configured certificates. Fails with a message naming the unreadable file.
    pub fn load(config: MarketplaceConfig) -> Result<Self, String> {
        let aws = config
            .aws_certificates
            .iter()
            .map(load_key)
            .collect::<Result<_, _>>()?;
        let azure = config
            .azure_certificates
            .iter()
            .map(load_key)
            .collect::<Result<_, _>>()?;
        for p in &config.products {
            if p.cloud != AWS && p.cloud != AZURE {
                return Err(format!(
                    "marketplace product `{}`: unknown cloud `{}`",
                    p.code, p.cloud
                ));
            }
        }
        Ok(Marketplace { aws, azure, config })
    }

    /// Checks `identity` for the usage request whose id is `request_id` at `now`, and returns
    /// the instance with the license its product code maps to.
    pub fn verify(
        &self,
        identity: &CloudIdentity,
        request_id: &[u8; 16],
        now: u64,
    ) -> Result<MarketplaceInstance, ApiError> {
        match identity.cloud.as_str() {
            AWS => self.verify_aws(identity, now),
            AZURE => self.verify_azure(identity, request_id, now),
            other => Err(bad(format!("unknown cloud `{other}`"))),
        }
    }

    fn license_for<'a>(
        &self,
        cloud: &str,
        codes: impl IntoIterator<Item = &'a str>,
    ) -> Result<(String, u64), ApiError> {
        codes
            .into_iter()
            .find_map(|c| {
                self.config
                    .products
                    .iter()
                    .find(|p| p.cloud == cloud && p.code == c)
                    .map(|p| (c.to_owned(), p.license_id))
            })
            .ok_or_else(|| {
                refuse(
                    StatusCode::FORBIDDEN,
                    UNKNOWN_PRODUCT_CODE,
                    "UnknownProductCode",
                    "the instance carries no product code of this vendor",
                )
            })
    }

    /// AWS: the document with its detached RSA-SHA256 `signature`, or (no `signature`) the
    /// document as PKCS#7 SignedData with the document embedded (the `rsa2048` endpoint).
    fn verify_aws(&self, id: &CloudIdentity, now: u64) -> Result<MarketplaceInstance, ApiError> {
        let document = match id.signature.as_deref() {
            Some(sig) => {
                let sig = decode_b64(sig).ok_or_else(|| bad("the signature is not base64"))?;
                let sig = Signature::try_from(sig.as_slice()).map_err(|_| forged())?;
                let signed = self.aws.iter().any(|k| {
                    VerifyingKey::<Sha256>::new(k.clone())
                        .verify(id.document.as_bytes(), &sig)
                        .is_ok()
                });
                if !signed {
                    return Err(forged());
                }
                id.document.as_bytes().to_vec()
            }
            None => {
                let der = decode_b64(&id.document)
                    .ok_or_else(|| bad("the PKCS#7 document is not base64"))?;
                pkcs7_verify(&der, &self.aws)?
            }
        };
        let doc: AwsDocument = serde_json::from_slice(&document)
            .map_err(|e| bad(format!("not an instance identity document: {e}")))?;
        if doc.instance_id.is_empty() {
            return Err(bad("the document has no instance id"));
        }
        let pending = parse_rfc3339(&doc.pending_time)
            .ok_or_else(|| bad("the document's pendingTime is not a time"))?;
        if pending > now.saturating_add(self.config.clock_skew_secs) {
            return Err(stale("the instance was launched in the future"));
        }
        let codes = doc.marketplace_product_codes.unwrap_or_default();
        let (product_code, license_id) = self.license_for(AWS, codes.iter().map(String::as_str))?;
        Ok(MarketplaceInstance {
            cloud: AWS.into(),
            instance_id: doc.instance_id,
            product_code,
            license_id,
        })
    }

    fn verify_azure(
        &self,
        id: &CloudIdentity,
        request_id: &[u8; 16],
        now: u64,
    ) -> Result<MarketplaceInstance, ApiError> {
        let der = decode_b64(&id.document).ok_or_else(|| bad("the document is not base64"))?;
        let content = pkcs7_verify(&der, &self.azure)?;
        let doc: AzureDocument = serde_json::from_slice(&content)
            .map_err(|e| bad(format!("not an attested data document: {e}")))?;
        if doc.nonce != azure_nonce(request_id) {
            return Err(refuse(
                StatusCode::FORBIDDEN,
                NONCE_MISMATCH,
                "NonceMismatch",
                "the attested document was not made for this request",
            ));
        }
        let created = parse_azure_time(&doc.time_stamp.created_on)
            .ok_or_else(|| bad("the document's createdOn is not a time"))?;
        let expires = parse_azure_time(&doc.time_stamp.expires_on)
            .ok_or_else(|| bad("the document's expiresOn is not a time"))?;
        let skew = self.config.clock_skew_secs;
        if created > now.saturating_add(skew) {
            return Err(stale("the document was created in the future"));
        }
        if now > expires.saturating_add(skew)
            || now.saturating_sub(created) > self.config.max_age_secs
        {
            return Err(stale("the document has expired"));
        }
        if doc.vm_id.is_empty() {
            return Err(bad("the document has no vmId"));
        }
        let code = doc
            .plan
            .map(|p| format!("{}/{}/{}", p.publisher, p.product, p.name))
            .unwrap_or_default();
        let (product_code, license_id) = self.license_for(AZURE, [code.as_str()])?;
        Ok(MarketplaceInstance {
            cloud: AZURE.into(),
            instance_id: doc.vm_id,
            product_code,
            license_id,
        })
    }
}

/// Standard base64, ignoring line breaks and spaces (AWS wraps its signature at 76 columns).
fn decode_b64(s: &str) -> Option<Vec<u8>> {
    let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(compact)
        .ok()
}

/// OID 1.2.840.113549.1.7.2 (signed-data), 1.2.840.113549.1.7.1 (data),
/// 2.16.840.1.101.3.4.2.1 (SHA-256), 1.2.840.113549.1.9.4 (message digest).
const SIGNED_DATA: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.7.2");
const SHA256: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const MESSAGE_DIGEST: der::oid::ObjectIdentifier =
    der::oid::ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.4");

/// Verifies a DER PKCS#7 / CMS SignedData with embedded content signed (SHA-256, RSA PKCS#1
/// v1.5) by one of `keys`, and returns the content.
fn pkcs7_verify(der: &[u8], keys: &[RsaPublicKey]) -> Result<Vec<u8>, ApiError> {
    let ci = ContentInfo::from_der(der).map_err(|_| bad("the document is not PKCS#7"))?;
    if ci.content_type != SIGNED_DATA {
        return Err(bad("the document is not PKCS#7 signed data"));
    }
    let sd: SignedData = ci
        .content
        .decode_as()
        .map_err(|_| bad("the document is not PKCS#7 signed data"))?;
    let content = sd
        .encap_content_info
        .econtent
        .as_ref()
        .ok_or_else(|| bad("the signed data carries no content"))?;
    let content =
        der::asn1::OctetString::from_der(&content.to_der().map_err(|_| bad("bad content"))?)
            .map_err(|_| bad("the signed content is not an octet string"))?
            .into_bytes();
    let digest = Sha256::digest(&content);
    for si in sd.signer_infos.0.iter() {
        if si.digest_alg.oid != SHA256 {
            continue;
        }
        let message = match &si.signed_attrs {
            Some(attrs) => {
                let md = attrs
                    .iter()
                    .find(|a| a.oid == MESSAGE_DIGEST)
                    .and_then(|a| a.values.iter().next())
                    .and_then(|v| v.decode_as::<der::asn1::OctetString>().ok());
                if md.as_ref().map(der::asn1::OctetString::as_bytes) != Some(digest.as_slice()) {
                    return Err(forged());
                }
                attrs.to_der().map_err(|_| forged())?
            }
            None => content.clone(),
        };
        let Ok(sig) = Signature::try_from(si.signature.as_bytes()) else {
            continue;
        };
        if keys.iter().any(|k| {
            VerifyingKey::<Sha256>::new(k.clone())
                .verify(&message, &sig)
                .is_ok()
        }) {
            return Ok(content);
        }
    }
    Err(forged())
}

/// Days from 1970-01-01 to the civil date (proleptic Gregorian).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = i64::from((m + 9) % 12);
    let doy = (153 * mp + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn unix(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Option<u64> {
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let t = days_from_civil(y, mo, d) * 86_400 + i64::from(h * 3600 + mi * 60 + s);
    u64::try_from(t).ok()
}

fn num<T: std::str::FromStr>(s: &str) -> Option<T> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `2019-10-31T07:02:24Z` (AWS's `pendingTime`; UTC only).
fn parse_rfc3339(s: &str) -> Option<u64> {
    let s = s.strip_suffix('Z')?;
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-');
    let mut t = time.split(':');
    let (y, mo, day) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let (h, mi, sec) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if d.next().is_some() || t.next().is_some() {
        return None;
    }
    unix(y, mo, day, h, mi, sec)
}

/// `11/20/18 22:07:39 -0000` (Azure's attested data times: month/day/two-digit year, UTC).
fn parse_azure_time(s: &str) -> Option<u64> {
    let mut parts = s.split(' ');
    let (date, time, zone) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || zone != "-0000" && zone != "+0000" {
        return None;
    }
    let mut d = date.split('/');
    let mut t = time.split(':');
    let (mo, day, y): (u32, u32, i64) = (num(d.next()?)?, num(d.next()?)?, num(d.next()?)?);
    let (h, mi, sec) = (num(t.next()?)?, num(t.next()?)?, num(t.next()?)?);
    if d.next().is_some() || t.next().is_some() || y > 99 {
        return None;
    }
    unix(2000 + y, mo, day, h, mi, sec)
}

/// Frees the seats of gone marketplace instances every `interval` until `stop` says true
/// (the service's graceful shutdown); a sweep in progress is finished first. A failed sweep
/// is logged and tried again at the next tick.
pub async fn sweep_task(
    app: std::sync::Arc<crate::AppState>,
    interval: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: skip it, the service has just started.
    ticks.tick().await;
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        let swept = app
            .store
            .run(crate::store::SERVICE_ACTOR, |a| {
                a.sweep_marketplace(crate::store::unix_now())
            })
            .await;
        match swept {
            Ok(freed) if freed.is_empty() => {}
            Ok(freed) => tracing::info!(?freed, "marketplace seats of gone instances freed"),
            Err(e) => tracing::warn!(code = e.code, error = %e.message, "marketplace sweep failed"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_exactly() {
        assert_eq!(parse_rfc3339("2019-10-31T07:02:24Z"), Some(1_572_505_344));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2019-10-31T07:02:24"), None);
        assert_eq!(parse_rfc3339("2019-13-31T07:02:24Z"), None);
        assert_eq!(parse_rfc3339("2019-10-31T07:02:+4Z"), None);
        assert_eq!(
            parse_azure_time("11/20/18 22:07:39 -0000"),
            Some(1_542_751_659)
        );
        assert_eq!(parse_azure_time("11/20/18 22:07:39 +0100"), None);
        assert_eq!(parse_azure_time("11/20/2018 22:07:39 -0000"), None);
    }

    #[test]
    fn garbage_is_a_typed_refusal() {
        let m = Marketplace::load(MarketplaceConfig::default()).unwrap();
        let id = |cloud: &str, doc: &str, sig: Option<&str>| CloudIdentity {
            cloud: cloud.into(),
            document: doc.into(),
            signature: sig.map(Into::into),
        };
        let code = |i: CloudIdentity| m.verify(&i, &[0; 16], 0).unwrap_err().code;
        assert_eq!(code(id("gcp", "{}", None)), BAD_IDENTITY);
        assert_eq!(code(id(AWS, "{}", None)), BAD_IDENTITY);
        assert_eq!(code(id(AWS, "{}", Some("%%"))), BAD_IDENTITY);
        assert_eq!(code(id(AWS, "{}", Some("AAAA"))), IDENTITY_FORGED);
        assert_eq!(code(id(AZURE, "%%", None)), BAD_IDENTITY);
        assert_eq!(code(id(AZURE, "AAAA", None)), BAD_IDENTITY);
    }
}
