//! Decoded values as JSON, in the shape `manifest.json` lists under `expect.fields`.
//!
//! Field names are the Rust field names. Byte strings (keys, digests, ids) are lower-case hex;
//! times and counters are JSON integers (all below 2^53); enums are lower-case names. The shape
//! is documented in `tests/vectors/README.md`.

use serde_json::{json, Value};
use tollgate_core::{
    hex_string, Component, DeactivationClaims, DeploymentModel, Entitlement, Feature, FeatureKind,
    Grant, KeyId, License, LicenseKey, UsageLicense, UsageRequest, UsageTerms,
};

/// One fingerprint component: `{"kind": 1, "digest": "…"}`.
pub fn component(c: &Component) -> Value {
    json!({ "kind": c.kind, "digest": hex_string(&c.digest) })
}

/// A component list, in order.
pub fn components(cs: &[Component]) -> Value {
    Value::Array(cs.iter().map(component).collect())
}

/// One feature: name, kind and the kind's parameters.
pub fn feature(f: &Feature) -> Value {
    match f.kind {
        FeatureKind::Perpetual => json!({ "name": f.name, "kind": "perpetual" }),
        FeatureKind::Subscription { expires_at } => {
            json!({ "name": f.name, "kind": "subscription", "expires_at": expires_at })
        }
        FeatureKind::Metered { quota, period } => json!({
            "name": f.name, "kind": "metered", "quota": quota, "period": period.name()
        }),
    }
}

/// A grant, every field.
pub fn grant(g: &Grant) -> Value {
    json!({
        "license_id": g.license_id,
        "revision": g.revision,
        "product": g.product,
        "customer": g.customer,
        "features": g.features.iter().map(feature).collect::<Vec<_>>(),
        "models": g.models.0,
        "max_activations": g.max_activations,
        "floating_seats": g.floating_seats,
        "not_before": g.not_before,
        "not_after": g.not_after,
        "fingerprint_threshold": g.fingerprint_threshold,
        "max_borrow_secs": g.max_borrow_secs,
        "rollback_tolerance_secs": g.rollback_tolerance_secs,
        "offline_refresh_secs": g.offline_refresh_secs,
    })
}

fn model(m: DeploymentModel) -> &'static str {
    m.name()
}

fn key_id(id: KeyId) -> Value {
    Value::String(id.to_hex())
}

/// Usage terms, every field.
pub fn terms(t: &UsageTerms) -> Value {
    json!({
        "grant": grant(&t.grant),
        "activation_id": t.activation_id,
        "model": model(t.model),
        "device_key": hex_string(&t.device_key),
        "request_counter": t.request_counter,
        "fingerprint": components(&t.fingerprint),
        "issued_at": t.issued_at,
        "refresh_deadline": t.refresh_deadline,
    })
}

/// A license record.
pub fn license(l: &License) -> Value {
    json!({
        "grant": grant(l.grant()),
        "issued_at": l.issued_at(),
        "key_id": key_id(l.key_id()),
    })
}

/// A usage request; `key_proof_valid` says whether its proof checks against `auth_secret`.
pub fn usage_request(r: &UsageRequest, key_proof_valid: bool) -> Value {
    let c = r.claims();
    json!({
        "device_key": hex_string(r.device_key()),
        "key_lookup": hex_string(&c.key_lookup),
        "key_proof": hex_string(&c.key_proof),
        "key_proof_valid": key_proof_valid,
        "product": c.product,
        "product_version": c.product_version,
        "counter": c.counter,
        "created_at": c.created_at,
        "fingerprint": components(&c.fingerprint),
        "request_id": hex_string(&r.request_id()),
    })
}

/// A usage license as decoded (signature checked, nothing else).
pub fn usage_license(ul: &UsageLicense) -> Value {
    json!({ "terms": terms(ul.terms()), "key_id": key_id(ul.key_id()) })
}

/// A verified usage license at `now`: its terms, the signing key, the validity window, how the
/// host's fingerprint matched and the features active at `now`.
pub fn entitlement(e: &Entitlement, now: u64) -> Value {
    let m = e.fingerprint_match();
    let until = (e.valid_until() != u64::MAX).then_some(e.valid_until());
    json!({
        "terms": terms(e.terms()),
        "key_id": key_id(e.key_id()),
        "valid_from": e.valid_from(),
        "valid_until": until,
        "fingerprint_match": { "matched": m.matched, "licensed": m.licensed, "required": m.required },
        "active_features": e.active_features(now),
    })
}

/// Deactivation claims.
pub fn deactivation(c: &DeactivationClaims) -> Value {
    json!({
        "activation_id": c.activation_id,
        "license_id": c.license_id,
        "counter": c.counter,
        "deactivated_at": c.deactivated_at,
    })
}

/// A parsed license key: its display form, lookup id, auth secret and the key proof it gives
/// for `device_key`.
pub fn license_key(k: &LicenseKey, device_key: &[u8; 32]) -> Value {
    let auth = k.auth_secret();
    json!({
        "display": k.expose(),
        "lookup_id": hex_string(&k.lookup_id()),
        "auth_secret": hex_string(&auth.0),
        "proof": hex_string(&auth.proof(device_key)),
    })
}
