//! The envelope every binary artifact shares: magic, type, version, a signer field, a postcard
//! payload and an ed25519 signature over the domain string and all preceding bytes.

use alloc::vec::Vec;

use serde::{de::DeserializeOwned, Serialize};

use crate::armor::ArtifactType;
use crate::error::{Error, Result};
use crate::keys::SIGNATURE_LEN;

/// The two magic bytes that open every artifact.
pub const MAGIC: [u8; 2] = *b"TG";
/// The base format version: the version of every artifact type whose layout has not changed
/// since the first release (see [`ArtifactType::version`] for the version of each type).
pub const VERSION: u8 = 1;
/// Versions that are retired for every type (see [`ArtifactType::retired_versions`]).
pub const RETIRED_VERSIONS: &[u8] = &[0];
/// Length of magic + type + version.
pub const HEADER_LEN: usize = 4;

/// Size limit of each artifact's binary form, in bytes.
pub const fn max_len(ty: ArtifactType) -> usize {
    match ty {
        ArtifactType::License => 1024,
        ArtifactType::UsageRequest => 512,
        ArtifactType::UsageLicense => 1024,
        ArtifactType::DeactivationCode => 256,
        ArtifactType::Lease => 1024,
        ArtifactType::KeyCertificate => 256,
        ArtifactType::KeyList => 1280,
        ArtifactType::UsageReport => 1280,
    }
}

/// The message that is signed: the domain string followed by the artifact bytes up to the
/// signature.
pub(crate) fn signed_message(ty: ArtifactType, signed: &[u8]) -> Vec<u8> {
    let domain = ty.domain();
    let mut m = Vec::with_capacity(domain.len() + signed.len());
    m.extend_from_slice(domain);
    m.extend_from_slice(signed);
    m
}

/// Builds `header ‖ signer ‖ payload ‖ signature`.
pub(crate) fn seal<P: Serialize>(
    ty: ArtifactType,
    signer: &[u8],
    payload: &P,
    sign: impl FnOnce(&[u8]) -> [u8; SIGNATURE_LEN],
) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&MAGIC);
    out.push(ty.type_byte());
    out.push(ty.version());
    out.extend_from_slice(signer);
    let mut out = postcard::to_extend(payload, out).map_err(|_| Error::LimitExceeded)?;
    if out.len() + SIGNATURE_LEN > max_len(ty) {
        return Err(Error::LimitExceeded);
    }
    let sig = sign(&signed_message(ty, &out));
    out.extend_from_slice(&sig);
    Ok(out)
}

/// The parts of an artifact before its signature is checked.
pub(crate) struct Opened<'a> {
    /// The signer field (key id, device key or empty).
    pub signer: &'a [u8],
    /// The postcard payload.
    pub payload: &'a [u8],
    /// Every byte before the signature: what the signature covers (after the domain).
    pub signed: &'a [u8],
    /// The signature.
    pub signature: [u8; SIGNATURE_LEN],
}

/// Checks the header of `bytes` and splits it; verifies nothing.
pub(crate) fn open(ty: ArtifactType, bytes: &[u8], signer_len: usize) -> Result<Opened<'_>> {
    if bytes.len() > max_len(ty) {
        return Err(Error::TooLarge);
    }
    let header = bytes.get(..HEADER_LEN).ok_or(Error::Truncated)?;
    let [m0, m1, type_byte, version] = header else {
        return Err(Error::Truncated);
    };
    if [*m0, *m1] != MAGIC {
        return Err(Error::BadMagic);
    }
    if *type_byte != ty.type_byte() {
        return Err(Error::WrongArtifactType);
    }
    if ty.retired_versions().contains(version) {
        return Err(Error::RetiredVersion);
    }
    if *version != ty.version() {
        return Err(Error::UnknownVersion);
    }
    let min = HEADER_LEN + signer_len + 1 + SIGNATURE_LEN;
    if bytes.len() < min {
        return Err(Error::Truncated);
    }
    let (signed, sig) = bytes.split_at(bytes.len() - SIGNATURE_LEN);
    let mut signature = [0u8; SIGNATURE_LEN];
    signature.copy_from_slice(sig);
    let (signer, payload) = signed
        .get(HEADER_LEN..)
        .ok_or(Error::Truncated)?
        .split_at(signer_len);
    Ok(Opened {
        signer,
        payload,
        signed,
        signature,
    })
}

/// Decodes a postcard payload that must use every byte.
pub(crate) fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T> {
    match postcard::take_from_bytes::<T>(payload) {
        Ok((v, [])) => Ok(v),
        Ok(_) => Err(Error::Malformed),
        Err(postcard::Error::DeserializeUnexpectedEnd) => Err(Error::Truncated),
        Err(_) => Err(Error::Malformed),
    }
}
