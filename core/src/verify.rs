//! The verification path: armored usage license in, typed entitlement out.

use alloc::string::String;
use alloc::vec::Vec;

use crate::armor::{self, ArtifactType};
use crate::artifacts::{UsageLicense, UsageTerms};
use crate::codec::max_len;
use crate::error::{Error, Result};
use crate::fingerprint::{Fingerprint, MatchDetail};
use crate::keys::{KeyId, Keyring};
use crate::lease::{ClientId, Lease, LeaseClaims, MAX_LEASE_SECS};
use crate::model::{DeploymentModel, Feature, Grant};
use crate::trust::TrustStore;

/// What a verifier trusts.
#[derive(Clone, Debug)]
enum Trust {
    /// Every key of a keyring, as given (legacy; for vendor-side tools and tests).
    Keyring(Keyring),
    /// The vendor's root and what it certifies.
    Root(alloc::boxed::Box<TrustStore>),
}

/// Checks usage licenses (and lease tokens) for one product.
///
/// Hosts MUST build it with [`Verifier::with_trust_store`], from the vendor root public key
/// compiled into the product: then a signing key counts only when the root certifies it.
/// [`Verifier::new`] trusts every key of a [`Keyring`] as given, which is only safe where the
/// keyring itself is trusted (the vendor's own tools, tests): a host that reads its keyring
/// from a file trusts whoever can write that file.
#[derive(Clone, Debug)]
pub struct Verifier {
    product: String,
    trust: Trust,
}

impl Verifier {
    /// A verifier for `product` that trusts the keys in `keyring` as given (see the type's
    /// documentation: hosts use [`Verifier::with_trust_store`]).
    pub fn new(product: &str, keyring: Keyring) -> Self {
        Verifier {
            product: product.into(),
            trust: Trust::Keyring(keyring),
        }
    }

    /// A verifier for the trust store's product that trusts the vendor root of `store` and the
    /// keys it certifies (SPEC §10b, §13).
    pub fn with_trust_store(store: TrustStore) -> Self {
        Verifier {
            product: store.product().into(),
            trust: Trust::Root(alloc::boxed::Box::new(store)),
        }
    }

    /// The product checked.
    pub fn product(&self) -> &str {
        &self.product
    }

    /// The trusted keys: the keyring given to [`Verifier::new`], or the keys certified in the
    /// trust store (without the embedded certificates).
    pub fn keyring(&self) -> &Keyring {
        match &self.trust {
            Trust::Keyring(k) => k,
            Trust::Root(s) => s.keyring(),
        }
    }

    /// The trust store, for a verifier built with [`Verifier::with_trust_store`].
    pub fn trust_store(&self) -> Option<&TrustStore> {
        match &self.trust {
            Trust::Keyring(_) => None,
            Trust::Root(s) => Some(s),
        }
    }

    /// The trust store, mutable (to add certificates or apply a newer key list).
    pub fn trust_store_mut(&mut self) -> Option<&mut TrustStore> {
        match &mut self.trust {
            Trust::Keyring(_) => None,
            Trust::Root(s) => Some(s),
        }
    }

    /// Decodes a usage license and checks its signer as this verifier trusts.
    fn decode(&self, bytes: &[u8]) -> Result<UsageLicense> {
        match &self.trust {
            Trust::Keyring(k) => UsageLicense::decode(bytes, k),
            Trust::Root(s) => UsageLicense::decode_trusted(bytes, s),
        }
    }

    fn decode_armor(&self, armored: &str) -> Result<UsageLicense> {
        let ty = ArtifactType::UsageLicense;
        self.decode(&armor::decode(ty, armored, max_len(ty))?)
    }

    /// Verifies an armored usage license: armor and checksum, format version, key id, signature
    /// over the exact bytes, product, validity at `now` and the k-of-n fingerprint match, in
    /// that order.
    pub fn verify(&self, armored: &str, host: &Fingerprint, now: u64) -> Result<Entitlement> {
        let ul = self.decode_armor(armored)?;
        self.check(ul, host, now)
    }

    /// Like [`Verifier::verify`], for the binary form.
    pub fn verify_bytes(&self, bytes: &[u8], host: &Fingerprint, now: u64) -> Result<Entitlement> {
        let ul = self.decode(bytes)?;
        self.check(ul, host, now)
    }

    /// Verifies everything [`Verifier::verify`] does except the time: for a host runtime that
    /// keeps the entitlement and checks [`Entitlement::check_time`] (or
    /// [`Entitlement::has_feature`]) at each use, so that a license that is not valid yet, or
    /// has lapsed, can still be shown on a status page and deactivated.
    pub fn verify_untimed(&self, armored: &str, host: &Fingerprint) -> Result<Entitlement> {
        let ul = self.decode_armor(armored)?;
        Self::matching(self.bind(ul, host)?)
    }

    /// Like [`Verifier::verify_untimed`], for the binary form.
    pub fn verify_bytes_untimed(&self, bytes: &[u8], host: &Fingerprint) -> Result<Entitlement> {
        let ul = self.decode(bytes)?;
        Self::matching(self.bind(ul, host)?)
    }

    /// [`Verifier::verify`] for a usage license already decoded through this verifier's
    /// trust ([`UsageLicense::decode_trusted`] with its [`Verifier::trust_store`], or
    /// [`UsageLicense::decode`] with its [`Verifier::keyring`]): product, time and fingerprint,
    /// in that order, without verifying the signature a second time. A host that keeps the
    /// decoded license (to store it, to show it) pays for one signature check, not two.
    pub fn verify_decoded(
        &self,
        ul: UsageLicense,
        host: &Fingerprint,
        now: u64,
    ) -> Result<Entitlement> {
        self.check(ul, host, now)
    }

    /// [`Verifier::verify_untimed`] for a usage license already decoded through this verifier's
    /// trust (see [`Verifier::verify_decoded`]).
    pub fn verify_decoded_untimed(
        &self,
        ul: UsageLicense,
        host: &Fingerprint,
    ) -> Result<Entitlement> {
        Self::matching(self.bind(ul, host)?)
    }

    fn bind(&self, ul: UsageLicense, host: &Fingerprint) -> Result<Entitlement> {
        let (terms, key_id) = ul.into_parts();
        if terms.grant.product != self.product {
            return Err(Error::WrongProduct);
        }
        Ok(Entitlement::new(terms, key_id, host))
    }

    fn check(&self, ul: UsageLicense, host: &Fingerprint, now: u64) -> Result<Entitlement> {
        let ent = self.bind(ul, host)?;
        ent.check_time(now)?;
        Self::matching(ent)
    }

    fn matching(ent: Entitlement) -> Result<Entitlement> {
        if !ent.fingerprint.ok() {
            return Err(Error::FingerprintMismatch);
        }
        Ok(ent)
    }

    /// Verifies a lease token from a floating license server, offline, for the client
    /// `client` at `now` (see `core/SPEC.md` §10a and §13):
    ///
    /// 1. `floating_license`, the server's armored usage license, as [`Verifier::verify`]
    ///    decodes it (armor, version, vendor key id, signature), then its product, then that
    ///    it is a floating activation ([`Error::LeaseNotGranted`] otherwise). Its fingerprint
    ///    is the server's, not the client's, and is not compared.
    /// 2. `lease`, the armored lease token: armor, version, that its signer is the license's
    ///    `device_key` ([`Error::UnknownKeyId`] for a lease from another server), the signature
    ///    over the exact bytes, the payload.
    /// 3. that the lease is for `client` ([`Error::LeaseWrongClient`]) and within the grant:
    ///    the same license and activation, only features the grant has, a term of at most
    ///    [`MAX_LEASE_SECS`] or, borrowed, [`Grant::max_borrow_secs`]
    ///    ([`Error::LeaseNotGranted`]).
    /// 4. the time: the license's window ([`Error::NotYetValid`], [`Error::Expired`],
    ///    [`Error::RefreshOverdue`]), then the lease's: `now < issued_at` is
    ///    [`Error::NotYetValid`], `now ≥ expires_at` is [`Error::LeaseExpired`].
    pub fn verify_lease(
        &self,
        floating_license: &str,
        lease: &str,
        client: &ClientId,
        now: u64,
    ) -> Result<LeaseEntitlement> {
        let ent = self.verify_lease_untimed(floating_license, lease, client)?;
        ent.check_time(now)?;
        Ok(ent)
    }

    /// Like [`Verifier::verify_lease`], for the binary forms.
    pub fn verify_lease_bytes(
        &self,
        floating_license: &[u8],
        lease: &[u8],
        client: &ClientId,
        now: u64,
    ) -> Result<LeaseEntitlement> {
        let ent = self.verify_lease_bytes_untimed(floating_license, lease, client)?;
        ent.check_time(now)?;
        Ok(ent)
    }

    /// Like [`Verifier::verify_lease_untimed`], for the binary forms.
    pub fn verify_lease_bytes_untimed(
        &self,
        floating_license: &[u8],
        lease: &[u8],
        client: &ClientId,
    ) -> Result<LeaseEntitlement> {
        let ul = self.decode(floating_license)?;
        let terms = self.floating_terms(ul)?;
        Self::lease_entitlement(terms, |key| Lease::decode(lease, key), client)
    }

    /// Everything [`Verifier::verify_lease`] checks except the time (step 4): for a client
    /// that keeps the entitlement and checks [`LeaseEntitlement::has_feature`] at each use.
    pub fn verify_lease_untimed(
        &self,
        floating_license: &str,
        lease: &str,
        client: &ClientId,
    ) -> Result<LeaseEntitlement> {
        let ul = self.decode_armor(floating_license)?;
        let terms = self.floating_terms(ul)?;
        let lease_bytes = armor::decode(ArtifactType::Lease, lease, max_len(ArtifactType::Lease));
        Self::lease_entitlement(terms, |key| Lease::decode(&lease_bytes?, key), client)
    }

    /// Step 1 after decoding: the product and the floating model.
    fn floating_terms(&self, ul: UsageLicense) -> Result<(UsageTerms, KeyId)> {
        let (terms, key_id) = ul.into_parts();
        if terms.grant.product != self.product {
            return Err(Error::WrongProduct);
        }
        if terms.model != DeploymentModel::Floating {
            return Err(Error::LeaseNotGranted);
        }
        Ok((terms, key_id))
    }

    /// Steps 2 and 3.
    fn lease_entitlement(
        (terms, key_id): (UsageTerms, KeyId),
        decode: impl FnOnce(&[u8; 32]) -> Result<Lease>,
        client: &ClientId,
    ) -> Result<LeaseEntitlement> {
        let lease = decode(&terms.device_key)?.into_claims();
        if lease.client_id != *client {
            return Err(Error::LeaseWrongClient);
        }
        let bound = if lease.borrowed {
            u64::from(terms.grant.max_borrow_secs)
        } else {
            MAX_LEASE_SECS
        };
        if lease.license_id != terms.grant.license_id
            || lease.activation_id != terms.activation_id
            || lease
                .features
                .iter()
                .any(|f| terms.grant.feature(f).is_none())
            || lease.term() > bound
        {
            return Err(Error::LeaseNotGranted);
        }
        Ok(LeaseEntitlement::new(terms, key_id, lease))
    }
}

/// A verified lease: which features this client may use, until when. Feature checks on it are
/// cheap. Made by [`Verifier::verify_lease`] and its variants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseEntitlement {
    terms: UsageTerms,
    key_id: KeyId,
    lease: LeaseClaims,
    valid_from: u64,
    valid_until: u64,
}

impl LeaseEntitlement {
    fn new(terms: UsageTerms, key_id: KeyId, lease: LeaseClaims) -> Self {
        let (from, until) = terms.validity();
        LeaseEntitlement {
            valid_from: from.max(lease.issued_at),
            valid_until: until.min(lease.expires_at),
            terms,
            key_id,
            lease,
        }
    }

    /// Checks that the lease answers the request that carried `nonce` (SPEC §13 F step 5a):
    /// [`Error::LeaseNonceMismatch`] for a token that answers another request, such as one
    /// captured earlier and replayed. A client checks this before the time, so that a
    /// replayed token is reported as such whatever its times.
    pub fn check_nonce(&self, nonce: &crate::lease::LeaseNonce) -> Result<()> {
        if self.lease.nonce != *nonce {
            return Err(Error::LeaseNonceMismatch);
        }
        Ok(())
    }

    /// Checks the floating license's window, then the lease's, at `now` (step 4 of
    /// [`Verifier::verify_lease`]).
    pub fn check_time(&self, now: u64) -> Result<()> {
        self.terms.check_time(now)?;
        if now < self.lease.issued_at {
            return Err(Error::NotYetValid);
        }
        if now >= self.lease.expires_at {
            return Err(Error::LeaseExpired);
        }
        Ok(())
    }

    /// Whether feature `name` is usable at `now`: the license and the lease are within their
    /// windows, the lease covers the feature, and the grant's feature is active (a
    /// subscription not yet expired).
    #[inline]
    pub fn has_feature(&self, name: &str, now: u64) -> bool {
        now >= self.valid_from
            && now < self.valid_until
            && self.lease.covers(name)
            && self
                .terms
                .grant
                .feature(name)
                .is_some_and(|f| f.active_at(now))
    }

    /// The lease's signed claims.
    pub fn lease(&self) -> &LeaseClaims {
        &self.lease
    }

    /// The signed terms of the server's floating usage license.
    pub fn terms(&self) -> &UsageTerms {
        &self.terms
    }

    /// The license's entitlements.
    pub fn grant(&self) -> &Grant {
        &self.terms.grant
    }

    /// The leased feature names, sorted.
    pub fn features(&self) -> &[alloc::string::String] {
        &self.lease.features
    }

    /// First second at which both the license and the lease are valid.
    pub fn valid_from(&self) -> u64 {
        self.valid_from
    }

    /// First second past the lease or the license, whichever ends first.
    pub fn valid_until(&self) -> u64 {
        self.valid_until
    }

    /// The id of the vendor key that signed the floating usage license.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}

/// A verified usage license: what this host may do. Feature checks on it are cheap.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entitlement {
    terms: UsageTerms,
    key_id: KeyId,
    valid_from: u64,
    valid_until: u64,
    fingerprint: MatchDetail,
}

/// Why a feature is or is not usable, for status pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeatureState {
    /// Usable now.
    Active,
    /// A subscription past its expiry.
    Expired,
    /// The whole license is outside its validity window or past its refresh deadline.
    LicenseInvalid,
    /// The license has no such feature.
    Missing,
}

impl Entitlement {
    fn new(terms: UsageTerms, key_id: KeyId, host: &Fingerprint) -> Self {
        let (valid_from, valid_until) = terms.validity();
        let g = &terms.grant;
        let fingerprint = host.match_against(&terms.fingerprint, g.fingerprint_threshold);
        Entitlement {
            terms,
            key_id,
            valid_from,
            valid_until,
            fingerprint,
        }
    }

    /// Checks the validity window and refresh deadline at `now`.
    pub fn check_time(&self, now: u64) -> Result<()> {
        self.terms.check_time(now)
    }

    /// Whether feature `name` is usable at `now`: the license is within its window and the
    /// feature exists and has not expired. Costs a few nanoseconds.
    #[inline]
    pub fn has_feature(&self, name: &str, now: u64) -> bool {
        now >= self.valid_from
            && now < self.valid_until
            && self
                .terms
                .grant
                .features
                .iter()
                .any(|f| f.name == name && f.active_at(now))
    }

    /// The state of feature `name` at `now`.
    pub fn feature_state(&self, name: &str, now: u64) -> FeatureState {
        match self.terms.grant.feature(name) {
            None => FeatureState::Missing,
            Some(_) if self.check_time(now).is_err() => FeatureState::LicenseInvalid,
            Some(f) if f.active_at(now) => FeatureState::Active,
            Some(_) => FeatureState::Expired,
        }
    }

    /// The features, with their kinds and expiries.
    pub fn features(&self) -> &[Feature] {
        &self.terms.grant.features
    }

    /// The names of the features active at `now`.
    pub fn active_features(&self, now: u64) -> Vec<&str> {
        self.features()
            .iter()
            .filter(|f| self.has_feature(&f.name, now))
            .map(|f| f.name.as_str())
            .collect()
    }

    /// The license's entitlements.
    pub fn grant(&self) -> &Grant {
        &self.terms.grant
    }

    /// All signed terms of the usage license.
    pub fn terms(&self) -> &UsageTerms {
        &self.terms
    }

    /// The deployment model of this activation.
    pub fn model(&self) -> DeploymentModel {
        self.terms.model
    }

    /// The activation id.
    pub fn activation_id(&self) -> u64 {
        self.terms.activation_id
    }

    /// First second of validity.
    pub fn valid_from(&self) -> u64 {
        self.valid_from
    }

    /// First second past validity (`u64::MAX` when unbounded).
    pub fn valid_until(&self) -> u64 {
        self.valid_until
    }

    /// How the host's fingerprint matched.
    pub fn fingerprint_match(&self) -> MatchDetail {
        self.fingerprint
    }

    /// The id of the vendor key that signed it.
    pub fn key_id(&self) -> KeyId {
        self.key_id
    }
}
