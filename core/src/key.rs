//! License keys: 25 characters in five groups of five, e.g. `ENF9Y-M3N56-ZXJYP-CEX7C-N8WUD`.
//!
//! A key is 23 random symbols (115 bits) followed by two check symbols of a Reed–Solomon code
//! over GF(32). The code has minimum distance 3, so every error that touches one or two symbols,
//! which includes every single-character typo and every swap of two adjacent characters, is
//! detected. See `core/SPEC.md` §2.

use core::fmt;

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::error::{Error, Result};

/// The 32-symbol alphabet: digits 2–9 and the letters without `I` and `O` (no `0/O`, `1/I`).
pub const ALPHABET: &[u8; 32] = b"23456789ABCDEFGHJKLMNPQRSTUVWXYZ";

/// Number of symbols in a key.
pub const KEY_SYMBOLS: usize = 25;
/// Number of random data symbols in a key (115 bits).
pub const DATA_SYMBOLS: usize = 23;
/// Bytes of entropy a new key consumes (only the first 115 bits are used).
pub const ENTROPY_BYTES: usize = 15;

const DOMAIN_AUTH: &[u8] = b"tollgate/v1/key-auth\0";
const DOMAIN_LOOKUP: &[u8] = b"tollgate/v1/key-lookup\0";
const DOMAIN_PROOF: &[u8] = b"tollgate/v1/key-proof\0";

/// GF(32) with the primitive polynomial x^5 + x^2 + 1.
mod gf32 {
    #[allow(clippy::indexing_slicing)] // const fn: indices are in bounds by construction
    const fn tables() -> ([u8; 62], [u8; 32]) {
        let mut exp = [0u8; 62];
        let mut log = [0u8; 32];
        let mut x: u8 = 1;
        let mut i = 0;
        while i < 31 {
            exp[i] = x;
            exp[i + 31] = x;
            log[x as usize] = i as u8;
            x <<= 1;
            if x & 0x20 != 0 {
                x ^= 0x25;
            }
            i += 1;
        }
        (exp, log)
    }
    const TABLES: ([u8; 62], [u8; 32]) = tables();
    const EXP: [u8; 62] = TABLES.0;
    const LOG: [u8; 32] = TABLES.1;

    /// α^i for any i.
    pub fn pow_alpha(i: usize) -> u8 {
        EXP.get(i % 31).copied().unwrap_or(0)
    }

    pub fn mul(a: u8, b: u8) -> u8 {
        if a == 0 || b == 0 {
            return 0;
        }
        let la = LOG.get(usize::from(a & 31)).copied().unwrap_or(0);
        let lb = LOG.get(usize::from(b & 31)).copied().unwrap_or(0);
        EXP.get(usize::from(la) + usize::from(lb))
            .copied()
            .unwrap_or(0)
    }

    pub fn inv(a: u8) -> u8 {
        let la = LOG.get(usize::from(a & 31)).copied().unwrap_or(0);
        EXP.get((31 - usize::from(la)) % 31).copied().unwrap_or(0)
    }
}

/// The two syndromes S_j = Σ c_i·α^(j·i), j = 1, 2.
fn syndromes(symbols: &[u8]) -> (u8, u8) {
    let mut s1 = 0u8;
    let mut s2 = 0u8;
    for (i, &c) in symbols.iter().enumerate() {
        s1 ^= gf32::mul(c, gf32::pow_alpha(i));
        s2 ^= gf32::mul(c, gf32::pow_alpha(2 * i));
    }
    (s1, s2)
}

fn symbol_of(ch: u8) -> Option<u8> {
    let up = ch.to_ascii_uppercase();
    ALPHABET.iter().position(|&a| a == up).map(|p| p as u8)
}

/// A license key: the customer's bearer secret.
///
/// It is zeroized on drop and its `Debug` form never shows it. The vendor keeps only
/// [`LicenseKey::lookup_id`] and [`LicenseKey::auth_secret`], both one-way hashes of the key.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct LicenseKey {
    /// Canonical form: 25 upper-case alphabet characters, no dashes.
    chars: [u8; KEY_SYMBOLS],
}

impl LicenseKey {
    /// Builds a new key from caller-supplied randomness (the core has no RNG).
    pub fn from_entropy(entropy: &[u8; ENTROPY_BYTES]) -> Self {
        let mut symbols = [0u8; KEY_SYMBOLS];
        // Take 5 bits at a time, most significant first.
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut bytes = entropy.iter();
        for s in symbols.iter_mut().take(DATA_SYMBOLS) {
            if bits < 5 {
                acc = (acc << 8) | u32::from(bytes.next().copied().unwrap_or(0));
                bits += 8;
            }
            *s = ((acc >> (bits - 5)) & 31) as u8;
            bits -= 5;
        }
        // Solve for the check symbols c23, c24 so that both syndromes vanish.
        let (s1, s2) = syndromes(symbols.get(..DATA_SYMBOLS).unwrap_or(&[]));
        let (a, b) = (
            gf32::pow_alpha(DATA_SYMBOLS),
            gf32::pow_alpha(DATA_SYMBOLS + 1),
        );
        let (c, d) = (
            gf32::pow_alpha(2 * DATA_SYMBOLS),
            gf32::pow_alpha(2 * (DATA_SYMBOLS + 1)),
        );
        // [a b; c d]·[x y]ᵀ = [s1 s2]ᵀ, solved by Cramer's rule (characteristic 2).
        let det_inv = gf32::inv(gf32::mul(a, d) ^ gf32::mul(b, c));
        let x = gf32::mul(gf32::mul(s1, d) ^ gf32::mul(b, s2), det_inv);
        let y = gf32::mul(gf32::mul(a, s2) ^ gf32::mul(s1, c), det_inv);
        if let Some(slot) = symbols.get_mut(DATA_SYMBOLS) {
            *slot = x;
        }
        if let Some(slot) = symbols.get_mut(DATA_SYMBOLS + 1) {
            *slot = y;
        }
        let mut chars = [0u8; KEY_SYMBOLS];
        for (ch, s) in chars.iter_mut().zip(symbols.iter()) {
            *ch = ALPHABET.get(usize::from(*s)).copied().unwrap_or(b'2');
        }
        symbols.zeroize();
        LicenseKey { chars }
    }

    /// Parses a key as a person typed it: any letter case, spaces and dashes anywhere.
    ///
    /// Fails with [`Error::KeyFormat`] when it is not 25 alphabet characters, and with
    /// [`Error::KeyChecksum`] when the check symbols do not match (a typo).
    pub fn parse(text: &str) -> Result<Self> {
        let mut chars = [0u8; KEY_SYMBOLS];
        let mut symbols = [0u8; KEY_SYMBOLS];
        let mut n = 0usize;
        for &b in text.as_bytes() {
            if b == b'-' || b.is_ascii_whitespace() {
                continue;
            }
            let s = symbol_of(b).ok_or(Error::KeyFormat)?;
            let (Some(sym), Some(ch)) = (symbols.get_mut(n), chars.get_mut(n)) else {
                symbols.zeroize();
                chars.zeroize();
                return Err(Error::KeyFormat);
            };
            *sym = s;
            *ch = b.to_ascii_uppercase();
            n += 1;
        }
        if n != KEY_SYMBOLS {
            symbols.zeroize();
            chars.zeroize();
            return Err(Error::KeyFormat);
        }
        let ok = syndromes(&symbols) == (0, 0);
        symbols.zeroize();
        if !ok {
            chars.zeroize();
            return Err(Error::KeyChecksum);
        }
        Ok(LicenseKey { chars })
    }

    /// The key in its display form, `XXXXX-XXXXX-XXXXX-XXXXX-XXXXX`. Handle with care: this is
    /// the secret itself.
    pub fn expose(&self) -> alloc::string::String {
        let mut out = alloc::string::String::with_capacity(29);
        for (i, group) in self.chars.chunks(5).enumerate() {
            if i > 0 {
                out.push('-');
            }
            for &c in group {
                out.push(char::from(c));
            }
        }
        out
    }

    /// The key's lookup id: the first 8 bytes of SHA-256(`tollgate/v1/key-lookup\0` ‖ key).
    /// Public; the vendor indexes licenses by it.
    pub fn lookup_id(&self) -> [u8; 8] {
        let digest = Sha256::new()
            .chain_update(DOMAIN_LOOKUP)
            .chain_update(self.chars)
            .finalize();
        let mut out = [0u8; 8];
        out.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        out
    }

    /// The key's authentication secret: SHA-256(`tollgate/v1/key-auth\0` ‖ key). The vendor
    /// stores it to check key proofs; it never travels.
    pub fn auth_secret(&self) -> KeyAuthSecret {
        let digest = Sha256::new()
            .chain_update(DOMAIN_AUTH)
            .chain_update(self.chars)
            .finalize();
        let mut out = [0u8; 32];
        out.copy_from_slice(&digest);
        KeyAuthSecret(out)
    }
}

impl fmt::Debug for LicenseKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LicenseKey(<redacted>)")
    }
}

/// The hash of a license key that the vendor stores to check a usage request's key proof.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeyAuthSecret(pub [u8; 32]);

impl fmt::Debug for KeyAuthSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyAuthSecret(<redacted>)")
    }
}

impl KeyAuthSecret {
    /// The 16-byte proof that the holder of the key made a request with `device_key`:
    /// HMAC-SHA256(auth secret, `tollgate/v1/key-proof\0` ‖ device key), truncated.
    pub fn proof(&self, device_key: &[u8; 32]) -> [u8; 16] {
        let mut out = [0u8; 16];
        if let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(&self.0) {
            mac.update(DOMAIN_PROOF);
            mac.update(device_key);
            let tag = mac.finalize().into_bytes();
            out.copy_from_slice(tag.get(..16).unwrap_or(&[0; 16]));
        }
        out
    }

    /// Checks a key proof in constant time.
    pub fn check_proof(&self, device_key: &[u8; 32], proof: &[u8; 16]) -> bool {
        bool::from(self.proof(device_key).ct_eq(proof))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const ENTROPY: [u8; 15] = [
        0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee,
    ];

    #[test]
    fn exact_key_from_entropy() {
        let k = LicenseKey::from_entropy(&ENTROPY);
        assert_eq!(k.expose(), "22AL6-EU6CP-M9H46-TPCXW-TRHYF");
        assert_eq!(hex::encode(k.lookup_id()), "2bb6b94a55516df7");
    }

    #[test]
    fn parse_accepts_case_spaces_and_missing_dashes() {
        let k = LicenseKey::from_entropy(&ENTROPY);
        let s = k.expose();
        for variant in [
            s.clone(),
            s.to_lowercase(),
            s.replace('-', ""),
            s.replace('-', " "),
            alloc::format!("  {}  ", s.replace('-', "").to_lowercase()),
        ] {
            assert_eq!(LicenseKey::parse(&variant).unwrap(), k, "{variant}");
        }
    }

    #[test]
    fn parse_rejects_bad_format() {
        assert_eq!(LicenseKey::parse(""), Err(Error::KeyFormat));
        assert_eq!(
            LicenseKey::parse("22AH6-JMD8R-ESRDF-7WN6G-UW6U"),
            Err(Error::KeyFormat)
        );
        assert_eq!(
            LicenseKey::parse("22AL6-EU6CP-M9H46-TPCXW-TRHYFN"),
            Err(Error::KeyFormat)
        );
        assert_eq!(
            LicenseKey::parse("02AH6-JMD8R-ESRDF-7WN6G-UW6UN"),
            Err(Error::KeyFormat)
        );
        assert_eq!(
            LicenseKey::parse("22AH6-JMD8R-ESRDF-7WN6G-UW6Ué"),
            Err(Error::KeyFormat)
        );
    }

    #[test]
    fn debug_never_shows_the_key() {
        let k = LicenseKey::from_entropy(&ENTROPY);
        let dbg = alloc::format!("{k:?}");
        assert_eq!(dbg, "LicenseKey(<redacted>)");
        assert!(!dbg.contains("22AL6"));
    }

    #[test]
    fn proof_checks() {
        let k = LicenseKey::from_entropy(&ENTROPY);
        let a = k.auth_secret();
        let p = a.proof(&[7; 32]);
        assert!(a.check_proof(&[7; 32], &p));
        assert!(!a.check_proof(&[8; 32], &p));
    }

    proptest! {
        #[test]
        fn every_single_substitution_is_caught(e in any::<[u8; 15]>(), pos in 0usize..25, delta in 1u8..32) {
            let k = LicenseKey::from_entropy(&e);
            let mut chars = k.chars;
            let sym = symbol_of(chars[pos]).unwrap();
            chars[pos] = ALPHABET[usize::from((sym + delta) % 32)];
            let typo = core::str::from_utf8(&chars).unwrap();
            prop_assert_eq!(LicenseKey::parse(typo), Err(Error::KeyChecksum));
        }

        #[test]
        fn every_adjacent_swap_is_caught(e in any::<[u8; 15]>(), pos in 0usize..24) {
            let k = LicenseKey::from_entropy(&e);
            let mut chars = k.chars;
            prop_assume!(chars[pos] != chars[pos + 1]);
            chars.swap(pos, pos + 1);
            let typo = core::str::from_utf8(&chars).unwrap();
            prop_assert_eq!(LicenseKey::parse(typo), Err(Error::KeyChecksum));
        }

        #[test]
        fn round_trip(e in any::<[u8; 15]>()) {
            let k = LicenseKey::from_entropy(&e);
            prop_assert_eq!(LicenseKey::parse(&k.expose()).unwrap(), k);
        }
    }

    /// Exhaustive over one key: all 25·31 substitutions and all 24 swaps.
    #[test]
    fn exhaustive_typos_for_one_key() {
        let k = LicenseKey::from_entropy(&ENTROPY);
        for pos in 0..25 {
            for &a in ALPHABET.iter() {
                let mut chars = k.chars;
                if chars[pos] == a {
                    continue;
                }
                chars[pos] = a;
                let s = core::str::from_utf8(&chars).unwrap();
                assert_eq!(LicenseKey::parse(s), Err(Error::KeyChecksum));
            }
        }
    }
}
