//! Text armor: `PREFIX:` followed by base64url (no padding) of the artifact bytes and their
//! CRC-32. See `core/SPEC.md` §3.
//!
//! The checksum is not a security measure (the signature is); it tells a person that the text
//! was damaged on its way (a line lost in an email, a character mistyped), which is a different
//! error ([`Error::ArmorChecksum`]) from a forgery ([`Error::BadSignature`]).

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, Result};

/// The kinds of artifact, each with its own text prefix and its own type byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ArtifactType {
    /// A vendor-signed license record (`TGLC`).
    License,
    /// A host-signed usage request (`TGRQ`).
    UsageRequest,
    /// A vendor-signed usage license (`TGUL`).
    UsageLicense,
    /// A host-signed deactivation code (`TGDC`).
    DeactivationCode,
    /// A lease token signed by a floating license server's device key (`TGLS`).
    Lease,
    /// A root-signed certificate of a vendor signing key (`TGKC`).
    KeyCertificate,
    /// A root-signed list of retired vendor signing keys (`TGKL`).
    KeyList,
    /// A host-signed, hash-chained report of metered usage (`TGUR`).
    UsageReport,
}

impl ArtifactType {
    /// All types, in type-byte order.
    pub const ALL: [ArtifactType; 8] = [
        ArtifactType::License,
        ArtifactType::UsageRequest,
        ArtifactType::UsageLicense,
        ArtifactType::DeactivationCode,
        ArtifactType::Lease,
        ArtifactType::KeyCertificate,
        ArtifactType::KeyList,
        ArtifactType::UsageReport,
    ];

    /// The text prefix, without the colon.
    pub const fn prefix(self) -> &'static str {
        match self {
            ArtifactType::License => "TGLC",
            ArtifactType::UsageRequest => "TGRQ",
            ArtifactType::UsageLicense => "TGUL",
            ArtifactType::DeactivationCode => "TGDC",
            ArtifactType::Lease => "TGLS",
            ArtifactType::KeyCertificate => "TGKC",
            ArtifactType::KeyList => "TGKL",
            ArtifactType::UsageReport => "TGUR",
        }
    }

    /// The type byte at offset 2 of the binary form.
    pub const fn type_byte(self) -> u8 {
        match self {
            ArtifactType::License => 0x01,
            ArtifactType::UsageRequest => 0x02,
            ArtifactType::UsageLicense => 0x03,
            ArtifactType::DeactivationCode => 0x04,
            ArtifactType::Lease => 0x05,
            ArtifactType::KeyCertificate => 0x06,
            ArtifactType::KeyList => 0x07,
            ArtifactType::UsageReport => 0x08,
        }
    }

    /// The type for a type byte.
    pub fn from_type_byte(b: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.type_byte() == b)
    }

    /// The domain-separation string prepended to the bytes before signing:
    /// `tollgate/v<N>/<name>\0`, where `N` is the type's current format version
    /// ([`ArtifactType::version`]), so that no signature is valid under two versions.
    pub const fn domain(self) -> &'static [u8] {
        match self {
            ArtifactType::License => b"tollgate/v2/license\0",
            ArtifactType::UsageRequest => b"tollgate/v1/usage-request\0",
            ArtifactType::UsageLicense => b"tollgate/v2/usage-license\0",
            ArtifactType::DeactivationCode => b"tollgate/v1/deactivation-code\0",
            ArtifactType::Lease => b"tollgate/v2/lease-token\0",
            ArtifactType::KeyCertificate => b"tollgate/v1/key-certificate\0",
            ArtifactType::KeyList => b"tollgate/v1/key-list\0",
            ArtifactType::UsageReport => b"tollgate/v1/usage-report\0",
        }
    }

    /// The format version this library writes and reads for this type (the byte at offset 3).
    /// Each type is versioned on its own: the license and the usage license are at version 2
    /// (the grant gained its policy fields), the lease token at version 2 (it answers the
    /// client's nonce), the others at version 1.
    pub const fn version(self) -> u8 {
        match self {
            ArtifactType::License | ArtifactType::UsageLicense | ArtifactType::Lease => 2,
            _ => 1,
        }
    }

    /// The versions of this type that are retired: refused with [`Error::RetiredVersion`],
    /// distinct from corruption and from a version newer than this library.
    pub const fn retired_versions(self) -> &'static [u8] {
        match self {
            ArtifactType::License | ArtifactType::UsageLicense | ArtifactType::Lease => &[0, 1],
            _ => &[0],
        }
    }

    /// Guesses the type of an armored text from its prefix.
    pub fn sniff(text: &str) -> Result<Self> {
        let t = text.trim_start();
        Self::ALL
            .into_iter()
            .find(|ty| {
                t.strip_prefix(ty.prefix())
                    .is_some_and(|rest| rest.starts_with(':'))
            })
            .ok_or(Error::ArmorPrefix)
    }
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// [`B64_REV`] entry of a character outside the alphabet.
const B64_INVALID: u8 = 0xff;
/// [`B64_REV`] entry of ASCII whitespace (as [`u8::is_ascii_whitespace`]), which is skipped.
const B64_SPACE: u8 = 0xfe;

#[allow(clippy::indexing_slicing)] // const fn: indices are in bounds by construction
const fn b64_reverse() -> [u8; 256] {
    let mut t = [B64_INVALID; 256];
    let mut i = 0;
    while i < 64 {
        t[B64[i] as usize] = i as u8;
        i += 1;
    }
    let space = b" \t\n\x0c\r";
    let mut i = 0;
    while i < space.len() {
        t[space[i] as usize] = B64_SPACE;
        i += 1;
    }
    t
}
const B64_REV: [u8; 256] = b64_reverse();

#[allow(clippy::indexing_slicing)] // const fn: indices are in bounds by construction
const fn crc_table() -> [u32; 256] {
    let mut t = [0u32; 256];
    let mut i = 0;
    while i < 256 {
        let mut c = i as u32;
        let mut k = 0;
        while k < 8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
            k += 1;
        }
        t[i] = c;
        i += 1;
    }
    t
}
const CRC_TABLE: [u32; 256] = crc_table();

/// CRC-32 (IEEE 802.3, the zlib/PNG one) of `data`.
pub fn crc32(data: &[u8]) -> u32 {
    let mut c = 0xFFFF_FFFFu32;
    for &b in data {
        let idx = ((c ^ u32::from(b)) & 0xff) as usize;
        c = CRC_TABLE.get(idx).copied().unwrap_or(0) ^ (c >> 8);
    }
    c ^ 0xFFFF_FFFF
}

fn b64_encode(data: &[u8], out: &mut String) {
    let sym = |v: u32| char::from(B64.get((v & 63) as usize).copied().unwrap_or(b'A'));
    for chunk in data.chunks(3) {
        let b0 = u32::from(chunk.first().copied().unwrap_or(0));
        let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
        let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
        let n = (b0 << 16) | (b1 << 8) | b2;
        out.push(sym(n >> 18));
        out.push(sym(n >> 12));
        if chunk.len() > 1 {
            out.push(sym(n >> 6));
        }
        if chunk.len() > 2 {
            out.push(sym(n));
        }
    }
}

/// The value of a base64url character, or [`B64_SPACE`] or [`B64_INVALID`].
#[inline(always)]
fn b64_value(c: u8) -> u8 {
    B64_REV.get(usize::from(c)).copied().unwrap_or(B64_INVALID)
}

/// Strict base64url decoding: skips ASCII whitespace, rejects any other non-alphabet
/// character, a dangling single character and non-zero trailing bits.
///
/// Runs of four alphabet characters that start on a byte boundary (every run, in text without
/// whitespace) take a fast path that writes three bytes at once; everything else goes through
/// the character-at-a-time path. Both report the same errors at the same point.
pub(crate) fn b64_decode(text: &[u8], max_len: usize) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    let mut rest = text;
    loop {
        // `bits == 0` holds exactly on a 4-character boundary, where `acc` is 0 too.
        if bits == 0 {
            while let Some((&[c0, c1, c2, c3], tail)) = rest.split_first_chunk::<4>() {
                let (v0, v1) = (b64_value(c0), b64_value(c1));
                let (v2, v3) = (b64_value(c2), b64_value(c3));
                // Alphabet values are below 64; whitespace and invalid characters have bit 7 set.
                if (v0 | v1 | v2 | v3) & 0x80 != 0 {
                    break;
                }
                let n = (u32::from(v0) << 18)
                    | (u32::from(v1) << 12)
                    | (u32::from(v2) << 6)
                    | u32::from(v3);
                out.extend_from_slice(&[(n >> 16) as u8, (n >> 8) as u8, n as u8]);
                if out.len() > max_len {
                    return Err(Error::TooLarge);
                }
                rest = tail;
            }
        }
        let Some((&c, tail)) = rest.split_first() else {
            break;
        };
        rest = tail;
        let v = b64_value(c);
        if v == B64_SPACE {
            continue;
        }
        if v == B64_INVALID {
            return Err(Error::ArmorEncoding);
        }
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
            if out.len() > max_len {
                return Err(Error::TooLarge);
            }
        }
    }
    // 6 leftover bits means a dangling character; any leftover bits must be zero.
    if bits >= 6 || acc != 0 {
        return Err(Error::ArmorEncoding);
    }
    Ok(out)
}

/// Armors `bytes` as an artifact of type `ty`.
pub fn encode(ty: ArtifactType, bytes: &[u8]) -> String {
    let mut body = Vec::with_capacity(bytes.len() + 4);
    body.extend_from_slice(bytes);
    body.extend_from_slice(&crc32(bytes).to_le_bytes());
    let mut out = String::with_capacity(5 + body.len().div_ceil(3) * 4);
    out.push_str(ty.prefix());
    out.push(':');
    b64_encode(&body, &mut out);
    out
}

/// Breaks an armored text into lines of at most `width` characters, for email.
pub fn wrap(armored: &str, width: usize) -> String {
    let width = width.max(8);
    let mut out = String::with_capacity(armored.len() + armored.len() / width + 1);
    for (i, ch) in armored.chars().enumerate() {
        if i > 0 && i % width == 0 {
            out.push('\n');
        }
        out.push(ch);
    }
    out
}

/// Removes the armor of an artifact of type `ty`, returning its bytes. `max_len` bounds the
/// binary size.
pub fn decode(ty: ArtifactType, text: &str, max_len: usize) -> Result<Vec<u8>> {
    let t = text.trim();
    let found = ArtifactType::sniff(t)?;
    if found != ty {
        return Err(Error::WrongArtifactType);
    }
    let rest = t.get(ty.prefix().len() + 1..).ok_or(Error::ArmorPrefix)?;
    let mut body = b64_decode(rest.as_bytes(), max_len + 4)?;
    if body.len() < 4 {
        return Err(Error::ArmorChecksum);
    }
    let split = body.len() - 4;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(body.get(split..).ok_or(Error::Truncated)?);
    body.truncate(split);
    if crc32(&body) != u32::from_le_bytes(crc) {
        return Err(Error::ArmorChecksum);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_known_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn exact_armor() {
        let a = encode(ArtifactType::UsageLicense, b"hello");
        assert_eq!(a, "TGUL:aGVsbG-GphA2");
        assert_eq!(
            decode(ArtifactType::UsageLicense, &a, 64).unwrap(),
            b"hello"
        );
    }

    #[test]
    fn whitespace_and_wrapping_are_ignored() {
        let a = encode(ArtifactType::UsageRequest, &[0xAB; 100]);
        let w = wrap(&a, 20);
        assert!(w.contains('\n'));
        let spaced = alloc::format!("\r\n  {}\t\n", w.replace('\n', "\r\n "));
        assert_eq!(
            decode(ArtifactType::UsageRequest, &spaced, 200).unwrap(),
            [0xAB; 100]
        );
    }

    #[test]
    fn errors_are_distinct() {
        let a = encode(ArtifactType::UsageLicense, b"hello world");
        assert_eq!(
            decode(ArtifactType::UsageRequest, &a, 64),
            Err(Error::WrongArtifactType)
        );
        assert_eq!(
            decode(ArtifactType::UsageLicense, "XXXX:abc", 64),
            Err(Error::ArmorPrefix)
        );
        assert_eq!(
            decode(ArtifactType::UsageLicense, "TGUL:ab$c", 64),
            Err(Error::ArmorEncoding)
        );
        // Drop a character in the middle: checksum or encoding, never success.
        let mut damaged = a.clone();
        damaged.remove(8);
        assert!(matches!(
            decode(ArtifactType::UsageLicense, &damaged, 64),
            Err(Error::ArmorChecksum | Error::ArmorEncoding)
        ));
        // Change one character: checksum.
        let mut typo = a.clone().into_bytes();
        typo[7] = if typo[7] == b'A' { b'B' } else { b'A' };
        let typo = String::from_utf8(typo).unwrap();
        assert_eq!(
            decode(ArtifactType::UsageLicense, &typo, 64),
            Err(Error::ArmorChecksum)
        );
        assert_eq!(
            decode(ArtifactType::UsageLicense, &a, 4),
            Err(Error::TooLarge)
        );
    }

    #[test]
    fn non_canonical_trailing_bits_are_rejected() {
        // "aGVsbG8" is "hello" with canonical trailing bits; "aGVsbG9" sets a trailing bit.
        assert_eq!(b64_decode(b"aGVsbG8", 64).unwrap(), b"hello");
        assert_eq!(b64_decode(b"aGVsbG9", 64), Err(Error::ArmorEncoding));
        assert_eq!(b64_decode(b"a", 64), Err(Error::ArmorEncoding));
    }

    proptest::proptest! {
        /// The fast path changes nothing: same bytes, same errors, as decoding one character at
        /// a time, on text mixing the alphabet, whitespace and foreign characters.
        #[test]
        fn b64_decode_matches_the_reference(
            text in proptest::collection::vec(proptest::sample::select(
                b"AQgw_-09az \t\n\r\x0c\x0b=+/$\xff".to_vec()), 0..80),
            max_len in 0usize..64,
        ) {
            proptest::prop_assert_eq!(
                b64_decode(&text, max_len),
                crate::fuzzing::b64_decode_reference(&text, max_len)
            );
        }
    }
}
