//! The floating world of the vectors — a floating license server's usage license, its device
//! key, a broker and its lease tokens — and the `lease` cases of `manifest.json` with their
//! checker.
//!
//! The reference floating world is in `tollgate_core::reference` (re-exported here): the
//! server is the reference host activated for the floating model with its own device key; the
//! broker is another machine (the replaced hardware of [`fx::REPLACED_IDENTIFIERS`]). This
//! module adds the variants only the vectors need. Everything is fixed: same bytes on every
//! run.

use serde_json::{json, Value};
use tollgate_core::{
    armor, hex_string, ArtifactType, ClientId, Component, DeviceKey, Error, Fingerprint, Lease,
    LeaseClaims, LeaseEntitlement, LeaseNonce, Result, UsageLicense, Verifier,
};

use crate::fixtures::{self as fx, sign_raw};
use crate::render;
use crate::vectors::{Artifact, Case, Input};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// Seed of another floating server's device key (leases from a server the broker does not use).
pub const OTHER_SERVER_DEVICE_SEED: [u8; 32] = [0x06; 32];
/// The instance name of a second broker on the same host.
pub const OTHER_BROKER_INSTANCE: &str = "broker-2";

pub use tollgate_core::reference::{
    broker_client_id, broker_fingerprint, floating_grant, floating_usage_license, lease,
    lease_claims, server_key, BROKER_INSTANCE, FLOATING_ACTIVATION_ID, FLOATING_LICENSE_ID,
    FLOATING_SEATS, LEASE_ID, LEASE_NONCE, LEASE_TTL, MAX_BORROW_SECS, SERVER_DEVICE_SEED,
    T_LEASE_EXPIRES, T_LEASE_ISSUED,
};

/// Another floating server's device key.
pub fn other_server_key() -> DeviceKey {
    DeviceKey::from_seed(&OTHER_SERVER_DEVICE_SEED)
}

/// A borrowed lease: the full seven-day bound from [`T_LEASE_ISSUED`].
pub fn borrowed_lease() -> Result<Lease> {
    let claims = LeaseClaims {
        borrowed: true,
        expires_at: T_LEASE_ISSUED + u64::from(MAX_BORROW_SECS),
        ..lease_claims()?
    };
    Lease::sign(claims, &server_key())
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

fn inputs(floating_license: &str, client: &Fingerprint, instance: &str, now: u64) -> Value {
    json!({
        "vendor_public_keys": [hex_string(&fx::vendor_key().public_key())],
        "product": fx::PRODUCT,
        "floating_license": floating_license,
        "client_fingerprint": render::components(client.components()),
        "client_instance": instance,
        "client_nonce": hex_string(&LEASE_NONCE),
        "now": now,
    })
}

/// The nonce of a later request than the one the reference lease answers.
pub const LATER_NONCE: LeaseNonce = [0x4f; 16];

/// The expected entitlement: stated from the fixtures by hand, not by verifying.
fn expected(claims: &LeaseClaims, client: ClientId, valid_until: u64) -> Value {
    json!({
        "lease": render_claims(claims),
        "client_id": client.to_hex(),
        "license_id": FLOATING_LICENSE_ID,
        "activation_id": FLOATING_ACTIVATION_ID,
        "key_id": fx::vendor_key().key_id().to_hex(),
        "valid_from": claims.issued_at,
        "valid_until": valid_until,
        "active_features": claims.features,
    })
}

/// Lease claims as JSON.
pub fn render_claims(c: &LeaseClaims) -> Value {
    json!({
        "lease_id": c.lease_id,
        "license_id": c.license_id,
        "activation_id": c.activation_id,
        "client_id": c.client_id.to_hex(),
        "nonce": hex_string(&c.nonce),
        "features": c.features,
        "borrowed": c.borrowed,
        "issued_at": c.issued_at,
        "expires_at": c.expires_at,
    })
}

/// A verified lease at `now`, in the shape of [`expected`].
pub fn render_entitlement(e: &LeaseEntitlement, client: ClientId, now: u64) -> Value {
    let active: Vec<&str> = e
        .features()
        .iter()
        .filter(|f| e.has_feature(f, now))
        .map(String::as_str)
        .collect();
    json!({
        "lease": render_claims(e.lease()),
        "client_id": client.to_hex(),
        "license_id": e.grant().license_id,
        "activation_id": e.terms().activation_id,
        "key_id": e.key_id().to_hex(),
        "valid_from": e.valid_from(),
        "valid_until": e.valid_until(),
        "active_features": active,
    })
}

/// The lease bytes of `claims` signed by `key` without the encoder's checks.
fn raw_lease(signer_key_id: [u8; 8], claims: &LeaseClaims, seed: &[u8; 32]) -> Vec<u8> {
    let mut unsigned = b"TG".to_vec();
    unsigned.extend_from_slice(&[
        ArtifactType::Lease.type_byte(),
        ArtifactType::Lease.version(),
    ]);
    unsigned.extend_from_slice(&signer_key_id);
    unsigned.extend_from_slice(&postcard_claims(claims));
    sign_raw(ArtifactType::Lease, seed, &unsigned)
}

/// The postcard encoding of `claims` (as the core writes it), by hand: the fields in order.
fn postcard_claims(c: &LeaseClaims) -> Vec<u8> {
    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }
    let mut out = Vec::new();
    varint(c.lease_id, &mut out);
    varint(c.license_id, &mut out);
    varint(c.activation_id, &mut out);
    out.extend_from_slice(&c.client_id.0);
    out.extend_from_slice(&c.nonce);
    varint(c.features.len() as u64, &mut out);
    for f in &c.features {
        varint(f.len() as u64, &mut out);
        out.extend_from_slice(f.as_bytes());
    }
    out.push(u8::from(c.borrowed));
    varint(c.issued_at, &mut out);
    varint(c.expires_at, &mut out);
    out
}

fn server_key_id() -> [u8; 8] {
    tollgate_core::KeyId::of(&server_key().public_key()).0
}

/// Every `lease` case, valid ones first.
pub fn lease_cases(out: &mut Vec<Case>) -> Result<()> {
    use Artifact::Lease as L;
    use ArtifactType::Lease as T;
    let ul = floating_usage_license()?.to_armor();
    let broker = broker_fingerprint()?;
    let client = broker_client_id()?;
    let at = |now| inputs(&ul, &broker, BROKER_INSTANCE, now);
    let now = at(fx::T_NOW);
    let claims = lease_claims()?;
    let lease = lease()?;
    let borrowed = borrowed_lease()?;
    let case = |name: &str, description: &str, bytes: &[u8], inputs: &Value| {
        Case::new(name, L, description)
            .artifact_bytes(T, bytes)
            .inputs(inputs.clone())
    };
    let sign = |c: LeaseClaims| Lease::sign(c, &server_key());

    // Must stay byte-identical to what the encoder writes (pins the hand encoder above).
    if raw_lease(server_key_id(), &claims, &SERVER_DEVICE_SEED) != lease.as_bytes() {
        return Err(Error::Malformed);
    }

    let b = lease.as_bytes();
    let flipped = {
        let mut v = b.to_vec();
        let at = 12 + 1; // inside the payload: the license id
        if let Some(x) = v.get_mut(at) {
            *x ^= 1;
        }
        v
    };
    let version_1 = {
        let mut v = b.to_vec();
        if let Some(x) = v.get_mut(3) {
            *x = 1;
        }
        v
    };
    let version_3 = {
        let mut v = b.to_vec();
        if let Some(x) = v.get_mut(3) {
            *x = 3;
        }
        v
    };
    let replayed_inputs = {
        let mut v = at(fx::T_NOW);
        if let Some(o) = v.as_object_mut() {
            o.insert(
                "client_nonce".into(),
                Value::String(hex_string(&LATER_NONCE)),
            );
        }
        v
    };
    let replayed_expired_inputs = {
        let mut v = replayed_inputs.clone();
        if let Some(o) = v.as_object_mut() {
            o.insert("now".into(), json!(T_LEASE_EXPIRES + 3600));
        }
        v
    };
    let flipped_nonce = {
        let mut v = b.to_vec();
        // The nonce follows the lease id (1 byte), license id (2), activation id (1) and the
        // client id (16) after the 12-byte header.
        let at = 12 + 1 + 2 + 1 + 16;
        if let Some(x) = v.get_mut(at) {
            *x ^= 1;
        }
        v
    };
    let other_server = Lease::sign(claims.clone(), &other_server_key())?;
    let forged_signer = raw_lease(server_key_id(), &claims, &OTHER_SERVER_DEVICE_SEED);
    let unsorted = LeaseClaims {
        features: vec!["support".into(), "mqtt-server".into()],
        ..claims.clone()
    };
    let bad_bool = {
        let mut v = postcard_claims(&claims);
        // The `borrowed` byte sits right after the last feature name.
        let at = v.len() - 1 - varint_len(claims.issued_at) - varint_len(claims.expires_at);
        if let Some(x) = v.get_mut(at) {
            *x = 2;
        }
        let mut unsigned = b"TG".to_vec();
        unsigned.extend_from_slice(&[T.type_byte(), T.version()]);
        unsigned.extend_from_slice(&server_key_id());
        unsigned.extend_from_slice(&v);
        sign_raw(T, &SERVER_DEVICE_SEED, &unsigned)
    };
    let two_hours = sign(LeaseClaims {
        expires_at: T_LEASE_ISSUED + 2 * 3600,
        ..claims.clone()
    })?;
    let borrow_too_long = sign(LeaseClaims {
        borrowed: true,
        expires_at: T_LEASE_ISSUED + u64::from(MAX_BORROW_SECS) + 1,
        ..claims.clone()
    })?;
    let not_granted_feature = sign(LeaseClaims {
        features: vec!["mqtt-server".into(), "opc-ua-gateway".into()],
        ..claims.clone()
    })?;
    let other_activation = sign(LeaseClaims {
        activation_id: FLOATING_ACTIVATION_ID + 1,
        ..claims.clone()
    })?;
    let near_deadline = LeaseClaims {
        issued_at: fx::T_REFRESH_DEADLINE - 20,
        expires_at: fx::T_REFRESH_DEADLINE + 40,
        ..claims.clone()
    };
    let near_deadline_lease = sign(near_deadline)?;
    let offline = fx::usage_license_offline()?.to_armor();
    let root_ul = crate::trust::floating_usage_license_with_certificate()?.to_armor();
    let uncertified_ul = UsageLicense::issue(
        floating_usage_license()?.terms().clone(),
        &fx::untrusted_vendor_key(),
    )?
    .to_armor();
    // The lease inputs with the vendor keys replaced by the root (no certificate supplied).
    let trusted = |ul: &str, now: u64| -> Result<Value> {
        let mut v = inputs(ul, &broker, BROKER_INSTANCE, now);
        let o = v.as_object_mut().ok_or(Error::Malformed)?;
        o.remove("vendor_public_keys");
        o.insert(
            "root_public_key".into(),
            Value::String(hex_string(&fx::root_key().public_key())),
        );
        Ok(v)
    };

    out.extend([
        case(
            "lease",
            "the reference lease: mqtt-server and support for the reference broker, 60 s from \
             20 s before now, signed by the floating server's device key",
            b,
            &now,
        )
        .ok(expected(&claims, client, T_LEASE_EXPIRES)),
        case(
            "lease_trusted_root",
            "the reference lease, checked by a broker that knows only the vendor's root: the \
             floating usage license carries its signer's certificate",
            b,
            &trusted(&root_ul, fx::T_NOW)?,
        )
        .ok(expected(&claims, client, T_LEASE_EXPIRES)),
        case(
            "lease_trusted_root_uncertified_license",
            "the reference lease with a floating usage license signed by a key the root never \
             certified (the customer's own key): refused through the trust store",
            b,
            &trusted(&uncertified_ul, fx::T_NOW)?,
        )
        .err(Error::KeyNotCertified),
        case(
            "lease_last_second",
            "the reference lease at now = expires_at - 1: still valid (the end is exclusive)",
            b,
            &at(T_LEASE_EXPIRES - 1),
        )
        .ok(expected(&claims, client, T_LEASE_EXPIRES)),
        case(
            "lease_borrowed",
            "a borrowed lease for the license's full bound of 7 days, checked 6 days on",
            borrowed.as_bytes(),
            &at(T_LEASE_ISSUED + 6 * 24 * 3600),
        )
        .ok(expected(
            borrowed.claims(),
            client,
            T_LEASE_ISSUED + u64::from(MAX_BORROW_SECS),
        )),
        // --- invalid ---
        case(
            "lease_expired",
            "the reference lease at now = expires_at: not renewed in time",
            b,
            &at(T_LEASE_EXPIRES),
        )
        .err(Error::LeaseExpired),
        case(
            "lease_not_yet_valid",
            "the reference lease one second before its issued_at",
            b,
            &at(T_LEASE_ISSUED - 1),
        )
        .err(Error::NotYetValid),
        case(
            "lease_tampered",
            "one bit of the signed payload flipped (the lease id), the CRC recomputed",
            &flipped,
            &now,
        )
        .err(Error::BadSignature),
        case(
            "lease_replayed_nonce_mismatch",
            "the reference lease given as the answer to a later request (client nonce 4f…4f): \
             a captured token replayed by a proxy",
            b,
            &replayed_inputs,
        )
        .err(Error::LeaseNonceMismatch),
        case(
            "lease_replayed_expired",
            "the reference lease replayed an hour after it ended, as the answer to a later \
             request: reported as a replay (the nonce is checked before the time)",
            b,
            &replayed_expired_inputs,
        )
        .err(Error::LeaseNonceMismatch),
        case(
            "lease_tampered_nonce",
            "one bit of the signed nonce flipped, the CRC recomputed: the signature fails",
            &flipped_nonce,
            &now,
        )
        .err(Error::BadSignature),
        case(
            "lease_retired_version_1",
            "the reference lease with version byte 1: the lease token before nonces (retired)",
            &version_1,
            &now,
        )
        .err(Error::RetiredVersion),
        case(
            "lease_unknown_version_3",
            "the reference lease with version byte 3: newer than this library",
            &version_3,
            &now,
        )
        .err(Error::UnknownVersion),
        case(
            "lease_wrong_server_key",
            "the reference claims signed by another floating server: its key id is not the \
             floating license's device key",
            other_server.as_bytes(),
            &now,
        )
        .err(Error::UnknownKeyId),
        case(
            "lease_forged_signer",
            "the reference claims signed by another key under the server's key id",
            &forged_signer,
            &now,
        )
        .err(Error::BadSignature),
        case(
            "lease_other_client",
            "the reference lease checked by a second broker on the same host (instance \
             `broker-2`)",
            b,
            &inputs(&ul, &broker, OTHER_BROKER_INSTANCE, fx::T_NOW),
        )
        .err(Error::LeaseWrongClient),
        case(
            "lease_other_machine",
            "the reference lease copied to the floating server's own machine",
            b,
            &inputs(&ul, &fx::fingerprint()?, BROKER_INSTANCE, fx::T_NOW),
        )
        .err(Error::LeaseWrongClient),
        case(
            "lease_feature_not_granted",
            "a lease for `opc-ua-gateway`, a feature the floating license does not have",
            not_granted_feature.as_bytes(),
            &now,
        )
        .err(Error::LeaseNotGranted),
        case(
            "lease_too_long",
            "a lease (not borrowed) of two hours: longer than the one-hour limit",
            two_hours.as_bytes(),
            &now,
        )
        .err(Error::LeaseNotGranted),
        case(
            "lease_borrow_too_long",
            "a borrowed lease one second longer than the license's 7-day bound",
            borrow_too_long.as_bytes(),
            &now,
        )
        .err(Error::LeaseNotGranted),
        case(
            "lease_other_activation",
            "a lease naming another activation than the floating usage license's",
            other_activation.as_bytes(),
            &now,
        )
        .err(Error::LeaseNotGranted),
        case(
            "lease_license_not_floating",
            "the reference lease with the reference offline usage license as the floating \
             license",
            b,
            &inputs(&offline, &broker, BROKER_INSTANCE, fx::T_NOW),
        )
        .err(Error::LeaseNotGranted),
        case(
            "lease_license_refresh_overdue",
            "a lease valid at the floating license's refresh deadline: the license is overdue",
            near_deadline_lease.as_bytes(),
            &at(fx::T_REFRESH_DEADLINE),
        )
        .err(Error::RefreshOverdue),
        case(
            "lease_unsorted_features",
            "the feature set not sorted (re-signed): a feature set is sorted and distinct",
            &raw_lease(server_key_id(), &unsorted, &SERVER_DEVICE_SEED),
            &now,
        )
        .err(Error::Malformed),
        case(
            "lease_bad_bool",
            "the `borrowed` byte is 2 (re-signed): a bool is 0 or 1",
            &bad_bool,
            &now,
        )
        .err(Error::Malformed),
        Case::new(
            "lease_usage_license_given",
            L,
            "the floating usage license (`TGUL:`) given where a lease token is expected",
        )
        .text(ul.clone())
        .inputs(now.clone())
        .err(Error::WrongArtifactType),
    ]);
    Ok(())
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

// ---------------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------------

fn field<'a>(inputs: &'a Value, name: &str) -> std::result::Result<&'a Value, String> {
    inputs
        .get(name)
        .ok_or_else(|| format!("inputs.{name} missing"))
}

fn str_field<'a>(inputs: &'a Value, name: &str) -> std::result::Result<&'a str, String> {
    field(inputs, name)?
        .as_str()
        .ok_or_else(|| format!("inputs.{name} is not a string"))
}

/// `Verifier::verify_lease` (or `verify_lease_bytes`) of one input with the case's inputs:
/// the trusted vendor keys, the product, the floating usage license (armored), the client's
/// fingerprint and instance name (from which its client id is derived) and `now`.
pub fn run(
    input: Input<'_>,
    inputs: &Value,
) -> std::result::Result<std::result::Result<Value, Error>, String> {
    let product = str_field(inputs, "product")?;
    let license = str_field(inputs, "floating_license")?;
    let instance = str_field(inputs, "client_instance")?;
    let nonce: LeaseNonce = hex::decode(str_field(inputs, "client_nonce")?)
        .ok()
        .and_then(|v| <LeaseNonce>::try_from(v).ok())
        .ok_or("inputs.client_nonce is not 32 hex digits")?;
    let now = field(inputs, "now")?
        .as_u64()
        .ok_or("inputs.now is not an integer")?;
    let root = match inputs.get("root_public_key") {
        Some(r) => Some(
            hex::decode(r.as_str().unwrap_or_default())
                .ok()
                .and_then(|v| <[u8; 32]>::try_from(v).ok())
                .ok_or("bad root_public_key")?,
        ),
        None => None,
    };
    let no_keys = Vec::new();
    let keys = match root {
        Some(_) => &no_keys,
        None => field(inputs, "vendor_public_keys")?
            .as_array()
            .ok_or("inputs.vendor_public_keys is not a list")?,
    }
    .iter()
    .map(|k| {
        hex::decode(k.as_str().unwrap_or_default())
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok())
            .ok_or_else(|| format!("bad key {k}"))
    })
    .collect::<std::result::Result<Vec<_>, _>>()?;
    let comps = field(inputs, "client_fingerprint")?
        .as_array()
        .ok_or("inputs.client_fingerprint is not a list")?
        .iter()
        .map(|c| {
            let kind = c
                .get("kind")
                .and_then(Value::as_u64)
                .and_then(|k| u8::try_from(k).ok())
                .ok_or("component kind")?;
            let digest = hex::decode(c.get("digest").and_then(Value::as_str).unwrap_or_default())
                .ok()
                .and_then(|v| <[u8; 8]>::try_from(v).ok())
                .ok_or("component digest")?;
            Ok(Component { kind, digest })
        })
        .collect::<std::result::Result<Vec<_>, String>>()?;
    Ok((|| {
        let ring = tollgate_core::Keyring::from_keys(keys.iter())?;
        let client = ClientId::derive(&Fingerprint::from_components(comps)?, instance);
        let v = match root {
            Some(r) => Verifier::with_trust_store(tollgate_core::TrustStore::new(product, &r)?),
            None => Verifier::new(product, ring),
        };
        // SPEC §13 F: steps 1–5 (untimed), the nonce (5a), then the time (6–7).
        let ent = match input {
            Input::Text(t) => v.verify_lease_untimed(license, t, &client)?,
            Input::Binary(b) => {
                let ul = armor::decode(
                    ArtifactType::UsageLicense,
                    license,
                    tollgate_core::codec::max_len(ArtifactType::UsageLicense),
                )?;
                v.verify_lease_bytes_untimed(&ul, b, &client)?
            }
        };
        ent.check_nonce(&nonce)?;
        ent.check_time(now)?;
        Ok(render_entitlement(&ent, client, now))
    })())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_case_gives_its_outcome() {
        let mut cases = Vec::new();
        lease_cases(&mut cases).unwrap();
        assert!(cases.len() >= 15);
        for case in &cases {
            let inputs = &case.inputs;
            let mut runs = Vec::new();
            if let Some(t) = &case.text {
                runs.push(Input::Text(t));
            }
            if let Some(b) = &case.binary {
                runs.push(Input::Binary(b));
            }
            for input in runs {
                let got = run(input, inputs).unwrap();
                let want = match &case.expect {
                    crate::vectors::Expect::Ok(v) => Ok(v.clone()),
                    crate::vectors::Expect::Err(e) => Err(*e),
                };
                assert_eq!(got, want, "{} ({input:?})", case.name);
            }
        }
    }
}
