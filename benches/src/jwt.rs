//! The peer format: the same usage license as a JWT signed with EdDSA (ed25519), i.e.
//! `base64url(header JSON) . base64url(claims JSON) . base64url(signature)`, the shape of
//! Keygen's signed license files and keys (JSON claims, base64, ed25519) and of most
//! licensing products built on JWT.
//!
//! Claims are spelled the way a JSON format would spell them: names as strings, binary values
//! as hex or base64url, absent optional values left out. Verification does what
//! [`tollgate_core::Verifier::verify`] does: signature (with `verify_strict` over the exact
//! signing input), header, claims, product, validity window and k-of-n fingerprint match.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use tollgate_core::{Component, ComponentKind, FeatureKind, Fingerprint, KeyId, UsageTerms};

/// Why a token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url parts, or not JSON of the expected shape.
    Format,
    /// The signature does not verify.
    Signature,
    /// Wrong product, outside the validity window or another host.
    Claims,
}

#[derive(Serialize, Deserialize)]
struct Header {
    alg: String,
    typ: String,
    kid: String,
}

/// One feature in JSON form.
#[derive(Debug, Serialize, Deserialize)]
pub struct JwtFeature {
    /// Feature name.
    pub name: String,
    /// `perpetual`, `subscription` or `metered`.
    pub kind: String,
    /// Subscription end (Unix seconds, exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
    /// Metered quota per period.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<u64>,
    /// Metered period: `day`, `month` or `year`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period: Option<String>,
}

/// The claims of a usage license in JSON form: the same content as [`UsageTerms`].
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    /// License id.
    pub lic: u64,
    /// License revision.
    pub rev: u32,
    /// Product id.
    pub product: String,
    /// Customer reference.
    pub customer: String,
    /// Features.
    pub features: Vec<JwtFeature>,
    /// Allowed deployment models by name.
    pub models: Vec<String>,
    /// Maximum node-locked activations.
    pub max_activations: u32,
    /// Floating seats.
    pub floating_seats: u32,
    /// Start of validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    /// End of validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Fingerprint components that must match.
    pub fingerprint_threshold: u8,
    /// Activation id.
    pub activation_id: u64,
    /// Deployment model of this activation.
    pub model: String,
    /// Device public key, base64url.
    pub device_key: String,
    /// Counter of the request answered.
    pub request_counter: u32,
    /// Fingerprint components as `kind-name:hex-digest`.
    pub fingerprint: Vec<String>,
    /// Issued at.
    pub iat: u64,
    /// Refresh deadline of online and floating activations.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_deadline: Option<u64>,
}

impl Claims {
    fn of(t: &UsageTerms) -> Self {
        let g = &t.grant;
        Claims {
            lic: g.license_id,
            rev: g.revision,
            product: g.product.clone(),
            customer: g.customer.clone(),
            features: g
                .features
                .iter()
                .map(|f| {
                    let (kind, expires_at, quota, period) = match f.kind {
                        FeatureKind::Perpetual => ("perpetual", None, None, None),
                        FeatureKind::Subscription { expires_at } => {
                            ("subscription", Some(expires_at), None, None)
                        }
                        FeatureKind::Metered { quota, period } => {
                            ("metered", None, Some(quota), Some(period.name().into()))
                        }
                    };
                    JwtFeature {
                        name: f.name.clone(),
                        kind: kind.into(),
                        expires_at,
                        quota,
                        period,
                    }
                })
                .collect(),
            models: g.models.iter().map(|m| m.name().into()).collect(),
            max_activations: g.max_activations,
            floating_seats: g.floating_seats,
            nbf: g.not_before,
            exp: g.not_after,
            fingerprint_threshold: g.fingerprint_threshold,
            activation_id: t.activation_id,
            model: t.model.name().into(),
            device_key: URL_SAFE_NO_PAD.encode(t.device_key),
            request_counter: t.request_counter,
            fingerprint: t
                .fingerprint
                .iter()
                .map(|c| {
                    let kind = ComponentKind::from_u8(c.kind).map_or("unknown", |k| k.name());
                    format!("{kind}:{}", hex::encode(c.digest))
                })
                .collect(),
            iat: t.issued_at,
            refresh_deadline: t.refresh_deadline,
        }
    }
}

/// Encodes and signs `terms` as a JWT with the vendor key of seed `seed`.
pub fn encode(terms: &UsageTerms, seed: &[u8; 32]) -> String {
    let key = SigningKey::from_bytes(seed);
    let header = Header {
        alg: "EdDSA".into(),
        typ: "JWT".into(),
        kid: KeyId::of(key.verifying_key().as_bytes()).to_hex(),
    };
    let mut token = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&header).expect("json"));
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(
        serde_json::to_vec(&Claims::of(terms)).expect("json"),
        &mut token,
    );
    let sig = key.sign(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(sig.to_bytes(), &mut token);
    token
}

fn component(s: &str) -> Option<Component> {
    let (kind, digest) = s.split_once(':')?;
    let kind = ComponentKind::ALL.into_iter().find(|k| k.name() == kind)?;
    let mut d = [0u8; 8];
    hex::decode_to_slice(digest, &mut d).ok()?;
    Some(Component {
        kind: kind as u8,
        digest: d,
    })
}

/// Verifies a token the way [`tollgate_core::Verifier::verify`] verifies a usage license.
pub fn verify(
    token: &str,
    key: &VerifyingKey,
    product: &str,
    host: &Fingerprint,
    now: u64,
) -> Result<Claims, JwtError> {
    let (signing_input, sig) = token.rsplit_once('.').ok_or(JwtError::Format)?;
    let (header, payload) = signing_input.split_once('.').ok_or(JwtError::Format)?;
    let mut sig_bytes = [0u8; 64];
    if URL_SAFE_NO_PAD.decode_slice(sig, &mut sig_bytes) != Ok(64) {
        return Err(JwtError::Format);
    }
    key.verify_strict(signing_input.as_bytes(), &Signature::from_bytes(&sig_bytes))
        .map_err(|_| JwtError::Signature)?;
    let header = URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| JwtError::Format)?;
    let header: Header = serde_json::from_slice(&header).map_err(|_| JwtError::Format)?;
    if header.alg != "EdDSA" {
        return Err(JwtError::Format);
    }
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| JwtError::Format)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| JwtError::Format)?;

    if claims.product != product {
        return Err(JwtError::Claims);
    }
    let until = match (claims.exp, claims.refresh_deadline) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => u64::MAX,
    };
    if now < claims.nbf.unwrap_or(0) || now >= until {
        return Err(JwtError::Claims);
    }
    let licensed = claims
        .fingerprint
        .iter()
        .map(|s| component(s))
        .collect::<Option<Vec<_>>>()
        .ok_or(JwtError::Format)?;
    if !host
        .match_against(&licensed, claims.fingerprint_threshold)
        .ok()
    {
        return Err(JwtError::Claims);
    }
    Ok(claims)
}
