//! The `Stripe-Signature` header, checked as Stripe documents it: the header holds a
//! timestamp `t` and one or more `v1` signatures (several during a secret rotation); each
//! `v1` is the hex HMAC-SHA-256, keyed with the endpoint's signing secret (the whole
//! `whsec_…` string), of `t` + `.` + the raw request body. An event is accepted when any `v1`
//! matches any configured secret (compared in constant time) and `t` is within the tolerance
//! of the service's clock. Other schemes (`v0`) are ignored.

use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Most `v1` signatures considered in one header (Stripe sends one per active secret).
const MAX_SIGNATURES: usize = 8;

/// Why a webhook's signature was refused. Every case is answered with 400 and changes
/// nothing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `Stripe-Signature` header.
    #[error("no Stripe-Signature header")]
    Missing,
    /// The header is not `t=…,v1=…[,v1=…]`.
    #[error("malformed Stripe-Signature header")]
    Malformed,
    /// The header has no `v1` signature.
    #[error("no v1 signature in the Stripe-Signature header")]
    NoSignature,
    /// The timestamp is outside the tolerance (a replay of an old delivery, or a clock far
    /// off).
    #[error("the signature's timestamp is outside the {tolerance} s tolerance")]
    Stale {
        /// The tolerance, in seconds.
        tolerance: u64,
    },
    /// No `v1` signature matches a configured secret.
    #[error("no signature matches")]
    Mismatch,
}

fn mac(secret: &[u8], t: u64, payload: &[u8]) -> [u8; 32] {
    // HMAC accepts keys of any length: `new_from_slice` cannot fail.
    let Ok(mut m) = <HmacSha256 as Mac>::new_from_slice(secret) else {
        return [0; 32];
    };
    m.update(t.to_string().as_bytes());
    m.update(b".");
    m.update(payload);
    m.finalize().into_bytes().into()
}

/// The header value Stripe would send for `payload` signed with `secret` at `t` (for tests
/// and tools that replay events).
pub fn sign(secret: &str, t: u64, payload: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(mac(secret.as_bytes(), t, payload))
    )
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

/// Checks `header` for `payload` against `secrets` at time `now` (Unix seconds), allowing
/// `tolerance` seconds of age (or clock skew); returns the signed timestamp.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[&str],
    tolerance: u64,
    now: u64,
) -> Result<u64, SignatureError> {
    let header = header.ok_or(SignatureError::Missing)?;
    let mut t = None;
    let mut sigs = Vec::new();
    for part in header.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match k {
            "t" => {
                if t.is_some() {
                    return Err(SignatureError::Malformed);
                }
                t = Some(v.parse::<u64>().map_err(|_| SignatureError::Malformed)?);
            }
            // A v1 value that is not 32 bytes of hex can never match: skip it, as Stripe's
            // libraries do.
            "v1" => {
                if sigs.len() >= MAX_SIGNATURES {
                    return Err(SignatureError::Malformed);
                }
                if let Some(s) = parse_hex32(v) {
                    sigs.push(s);
                }
            }
            _ => {}
        }
    }
    let t = t.ok_or(SignatureError::Malformed)?;
    if sigs.is_empty() {
        return Err(SignatureError::NoSignature);
    }
    if now.abs_diff(t) > tolerance {
        return Err(SignatureError::Stale { tolerance });
    }
    let mut ok = subtle::Choice::from(0u8);
    for secret in secrets {
        let want = mac(secret.as_bytes(), t, payload);
        for s in &sigs {
            ok |= want.ct_eq(s);
        }
    }
    if bool::from(ok) {
        Ok(t)
    } else {
        Err(SignatureError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const SECRET: &str = "whsec_test_secret_0123456789";
    const BODY: &[u8] = br#"{"id":"evt_1","type":"checkout.session.completed"}"#;

    #[test]
    fn a_known_signature() {
        // HMAC-SHA256("whsec_test_secret_0123456789", "1700000000.{body}"), computed
        // independently with `openssl dgst -sha256 -hmac`.
        assert_eq!(
            sign(SECRET, 1_700_000_000, BODY),
            "t=1700000000,v1=8148423589a812fdc91e48207e03f4da7292dd1e03eb1c297a8caf63643af5f6"
        );
    }

    #[test]
    fn accepts_good_and_refuses_the_rest() {
        let now = 1_700_000_000;
        let h = sign(SECRET, now, BODY);
        assert_eq!(verify(Some(&h), BODY, &[SECRET], 300, now + 300), Ok(now));
        assert_eq!(
            verify(Some(&h), BODY, &[SECRET], 300, now + 301),
            Err(SignatureError::Stale { tolerance: 300 })
        );
        assert_eq!(
            verify(Some(&h), BODY, &["whsec_other"], 300, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&h), b"{}", &[SECRET], 300, now),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(None, BODY, &[SECRET], 300, now),
            Err(SignatureError::Missing)
        );
        for bad in ["", "t=", "v1=ab", "t=1,t=2,v1=00", "nonsense", "t=-5,v1=00"] {
            assert!(
                verify(Some(bad), BODY, &[SECRET], 300, now).is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            verify(Some(&format!("t={now},v0=00")), BODY, &[SECRET], 300, now),
            Err(SignatureError::NoSignature)
        );
    }

    #[test]
    fn secret_rotation_several_signatures_and_secrets() {
        let now = 1_700_000_000;
        let old = sign("whsec_old", now, BODY);
        let new = sign(SECRET, now, BODY);
        let v1_old = old.split_once(",v1=").unwrap().1;
        // Stripe signs with both secrets during a rotation: either one configured suffices.
        let both = format!("{new},v1={v1_old},v0=deadbeef");
        assert_eq!(verify(Some(&both), BODY, &[SECRET], 300, now), Ok(now));
        assert_eq!(verify(Some(&both), BODY, &["whsec_old"], 300, now), Ok(now));
        // And the service may hold both secrets while the header carries one.
        assert_eq!(
            verify(Some(&old), BODY, &[SECRET, "whsec_old"], 300, now),
            Ok(now)
        );
        assert_eq!(
            verify(Some(&old), BODY, &[SECRET], 300, now),
            Err(SignatureError::Mismatch)
        );
    }

    proptest::proptest! {
        /// Any header and body: a typed answer, never a panic; and a valid signature over
        /// any body verifies, while any change to the body does not.
        #[test]
        fn arbitrary_input_never_panics(header in ".{0,200}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..256), flip in 0usize..256) {
            let _ = verify(Some(&header), &body, &[SECRET], 300, 1_700_000_000);
            let good = sign(SECRET, 1_700_000_000, &body);
            proptest::prop_assert_eq!(verify(Some(&good), &body, &[SECRET], 300, 1_700_000_000), Ok(1_700_000_000));
            if !body.is_empty() {
                let mut changed = body.clone();
                let i = flip % changed.len();
                changed[i] ^= 1;
                proptest::prop_assert_eq!(verify(Some(&good), &changed, &[SECRET], 300, 1_700_000_000), Err(SignatureError::Mismatch));
            }
        }
    }
}
