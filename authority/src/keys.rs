//! Signing keys: create, rotate, list; the active signer for everything the authority signs;
//! the vendor root key that certifies them (`TGKC`) and retires them (`TGKL`).

use std::path::Path;
use std::sync::Arc;

use serde_json::json;
use tollgate_core::{
    hex_string, CertificateClaims, KeyCertificate, KeyId, KeyList, Keyring, VendorSigningKey,
};
use zeroize::Zeroizing;

use crate::audit::audit;
use crate::error::{AuthorityError, Result};
use crate::keystore::{random, read_seed, KeyStore};
use crate::ledger::Tx;
use crate::records::{KeyStatus, SigningKeyInfo};
use crate::Authority;

/// The active signing key, loaded from its file (or kept from the last load).
pub(crate) fn active_signer(tx: &Tx<'_>, keys: &KeyStore) -> Result<Arc<VendorSigningKey>> {
    let info = tx.active_key()?.ok_or(AuthorityError::NoSigningKey)?;
    keys.signer(info.key_id)
}

/// The root-signed certificate of signing key `key` for `product`: the stored one, or (when
/// the directory has a root key) a new one, stored. `None` when there is no root key (a
/// directory set up before root keys: its usage licenses carry no certificate and hosts that
/// trust only a compiled-in root refuse them).
pub(crate) fn certificate_for(
    tx: &Tx<'_>,
    keys: &KeyStore,
    key: &SigningKeyInfo,
    product: &str,
    now: u64,
) -> Result<Option<KeyCertificate>> {
    // (Only certificates verified with the root are kept in memory.)
    if let Some(cert) = keys.cached_certificate(key.key_id, product) {
        return Ok(Some(cert));
    }
    let Some(root) = keys.root()? else {
        return Ok(None);
    };
    let root_public = root.public_key();
    if let Some(armored) = tx.key_certificate(key.key_id, product)? {
        let cert = KeyCertificate::from_armor(&armored, &root_public)
            .map_err(|_| AuthorityError::Corrupt("stored key certificate does not verify"))?;
        keys.cache_certificate(&cert, product);
        return Ok(Some(cert));
    }
    let cert = KeyCertificate::issue(
        CertificateClaims {
            product: product.into(),
            public_key: key.public_key,
            not_before: key.created_at.min(now),
            not_after: None,
            issued_at: now,
        },
        &root,
    )?;
    tx.insert_key_certificate(key.key_id, product, &cert.to_armor(), now)?;
    Ok(Some(cert))
}

impl Authority {
    /// Creates the vendor root key from 32 fresh random bytes, in `keys/root.key` (mode 0600).
    /// Its public half is what every product build compiles in; it only certifies and retires
    /// signing keys. Fails with [`AuthorityError::RootKeyExists`] if there is one. Returns the
    /// root public key.
    pub fn create_root_key(&mut self, now: u64) -> Result<[u8; 32]> {
        let mut seed = Zeroizing::new([0u8; 32]);
        random(seed.as_mut())?;
        self.install_root(&seed, "root.created", now)
    }

    /// Imports the vendor root key from a 32-byte seed (for a vendor moving its authority, or
    /// the published development root of `tests/fixtures/dev-root.seed`). Fails with
    /// [`AuthorityError::RootKeyExists`] if there is one.
    pub fn import_root_key(&mut self, seed: &[u8; 32], now: u64) -> Result<[u8; 32]> {
        self.install_root(seed, "root.imported", now)
    }

    /// [`Authority::import_root_key`] from a file holding exactly the 32-byte seed (else
    /// [`AuthorityError::KeyFile`]).
    pub fn import_root_key_file(&mut self, path: &Path, now: u64) -> Result<[u8; 32]> {
        let seed = read_seed(path)?.ok_or(AuthorityError::KeyFile {
            path: path.to_path_buf(),
            problem: "missing",
        })?;
        self.import_root_key(&seed, now)
    }

    fn install_root(&mut self, seed: &[u8; 32], action: &str, now: u64) -> Result<[u8; 32]> {
        let root = self.keys.write_root(seed)?;
        let public = root.public_key();
        drop(root);
        let actor = self.actor.as_str();
        let recorded = self.ledger.write(|tx| {
            audit(
                tx,
                now,
                actor,
                action,
                None,
                None,
                json!({"root_key_id": KeyId::of(&public).to_hex(),
                       "root_public_key": hex_string(&public)}),
            )
        });
        if let Err(e) = recorded {
            self.keys.discard(&self.keys.root_path());
            return Err(e);
        }
        Ok(public)
    }

    /// The vendor root public key, what product builds compile in. Fails with
    /// [`AuthorityError::NoRootKey`].
    pub fn root_public_key(&self) -> Result<[u8; 32]> {
        Ok(self
            .keys
            .root()?
            .ok_or(AuthorityError::NoRootKey)?
            .public_key())
    }

    /// The certificates (`TGKC:…`) for `product` of every signing key not withdrawn, oldest
    /// first, certifying the active key for `product` first if it is not yet: what
    /// `vendor host-config` hands to hosts (usage licenses carry their own certificate too).
    /// Fails with [`AuthorityError::NoRootKey`] and [`AuthorityError::NoSigningKey`].
    pub fn key_certificates(&mut self, product: &str, now: u64) -> Result<Vec<String>> {
        if self.keys.root()?.is_none() {
            return Err(AuthorityError::NoRootKey);
        }
        let keys = &self.keys;
        self.ledger.write(|tx| {
            let active = tx.active_key()?.ok_or(AuthorityError::NoSigningKey)?;
            certificate_for(tx, keys, &active, product, now)?;
            tx.key_certificates(product)
        })
    }

    /// What a host of `product` may learn about signing keys, read-only: the certificates
    /// (`TGKC:…`) of the keys not withdrawn, and the current key list (`TGKL:…`), if any. The
    /// online service serves it at `GET /v1/keys/{product}`.
    pub fn trust_bundle(&mut self, product: &str) -> Result<(Vec<String>, Option<String>)> {
        self.ledger.read(|tx| {
            Ok((
                tx.key_certificates(product)?,
                tx.current_key_list(product)?.map(|(_, l)| l),
            ))
        })
    }

    /// The current root-signed key list (`TGKL:…`) of `product`, if a key was ever retired.
    pub fn key_list(&mut self, product: &str) -> Result<Option<String>> {
        Ok(self
            .ledger
            .read(|tx| tx.current_key_list(product))?
            .map(|(_, armored)| armored))
    }

    /// Retires (withdraws) signing key `key_id` for good, e.g. after a compromise: signs, with
    /// the root key, a new key list for every product the ledger knows, with the next sequence
    /// number, listing every withdrawn key. Hosts that learn the list (a file, the host
    /// configuration, the online service's answers) no longer trust anything the key signed.
    /// Returns the new lists, `(product, sequence, TGKL:…)`.
    ///
    /// Fails with [`AuthorityError::NoRootKey`], [`AuthorityError::RetireActiveKey`] for the
    /// active key (rotate first: there must always be a key to sign with), and
    /// [`AuthorityError::InvalidArgument`] for an unknown or already withdrawn key.
    pub fn retire_key(&mut self, key_id: KeyId, now: u64) -> Result<Vec<(String, u64, String)>> {
        let root = self.keys.root()?.ok_or(AuthorityError::NoRootKey)?;
        let actor = self.actor.as_str();
        self.ledger.write(|tx| {
            let all = tx.list_keys()?;
            let key = all
                .iter()
                .find(|k| k.key_id == key_id)
                .ok_or_else(|| AuthorityError::invalid(format!("no signing key {key_id}")))?;
            if key.status == KeyStatus::Active {
                return Err(AuthorityError::RetireActiveKey(key_id.to_hex()));
            }
            if !tx.withdraw_key(key_id, now)? {
                return Err(AuthorityError::invalid(format!(
                    "signing key {key_id} is already retired by the key list"
                )));
            }
            let withdrawn: Vec<KeyId> = tx
                .list_keys()?
                .into_iter()
                .filter(|k| k.withdrawn_at.is_some())
                .map(|k| k.key_id)
                .collect();
            let mut lists = Vec::new();
            for product in tx.products()? {
                let sequence = match tx.current_key_list(&product)? {
                    Some((s, _)) => s
                        .checked_add(1)
                        .ok_or(AuthorityError::invalid("key list sequence overflows"))?,
                    None => 1,
                };
                let list = KeyList::issue(&product, sequence, now, &withdrawn, &root)?;
                let armored = list.to_armor();
                tx.insert_key_list(&product, sequence, &armored, now)?;
                lists.push((product, sequence, armored));
            }
            audit(
                tx,
                now,
                actor,
                "key.withdrawn",
                None,
                None,
                json!({
                    "key_id": key_id.to_hex(),
                    "withdrawn": withdrawn.iter().map(|k| k.to_hex()).collect::<Vec<_>>(),
                    "key_lists": lists.iter().map(|(p, s, _)| json!({"product": p, "sequence": s}))
                        .collect::<Vec<_>>(),
                }),
            )?;
            Ok(lists)
        })
    }

    /// Creates the first signing key: 32 bytes from the OS RNG, stored in
    /// `keys/<key id>.key` (mode 0600), recorded as active. Fails with
    /// [`AuthorityError::SigningKeyExists`] if a key is already active.
    pub fn create_signing_key(&mut self, now: u64) -> Result<SigningKeyInfo> {
        self.new_signing_key(now, false)
    }

    /// Creates a new signing key and makes it the active one; the previous key is retired (it
    /// stays listed by [`Authority::public_keys`] so hosts keep trusting what it signed).
    /// Fails with [`AuthorityError::NoSigningKey`] if there is no active key to rotate.
    pub fn rotate_signing_key(&mut self, now: u64) -> Result<SigningKeyInfo> {
        self.new_signing_key(now, true)
    }

    fn new_signing_key(&mut self, now: u64, rotate: bool) -> Result<SigningKeyInfo> {
        let (key, path) = self.keys.generate()?;
        let info = SigningKeyInfo {
            key_id: key.key_id(),
            public_key: key.public_key(),
            status: KeyStatus::Active,
            created_at: now,
            retired_at: None,
            withdrawn_at: None,
        };
        drop(key);
        let (keys, actor) = (&self.keys, self.actor.as_str());
        let result = self.ledger.write(|tx| {
            let old = tx.active_key()?;
            match (&old, rotate) {
                (Some(_), false) => return Err(AuthorityError::SigningKeyExists),
                (None, true) => return Err(AuthorityError::NoSigningKey),
                _ => {}
            }
            if let Some(old) = &old {
                tx.retire_key(old.key_id, now)?;
            }
            tx.insert_key(&info)?;
            // Certified for every product the ledger knows (others on first use).
            for product in tx.products()? {
                certificate_for(tx, keys, &info, &product, now)?;
            }
            audit(
                tx,
                now,
                actor,
                if rotate { "key.rotated" } else { "key.created" },
                None,
                None,
                json!({
                    "key_id": info.key_id.to_hex(),
                    "public_key": info.public_key_hex(),
                    "retired_key_id": old.map(|o| o.key_id.to_hex()),
                }),
            )
        });
        if result.is_err() {
            self.keys.discard(&path);
        }
        result.map(|()| info)
    }

    /// Every signing key, active and retired, oldest first: what hosts put in their keyrings.
    pub fn public_keys(&mut self) -> Result<Vec<SigningKeyInfo>> {
        self.ledger.read(|tx| tx.list_keys())
    }

    /// A keyring of every listed key, to verify what this authority signed.
    pub fn keyring(&mut self) -> Result<Keyring> {
        let keys = self.public_keys()?;
        Ok(Keyring::from_keys(keys.iter().map(|k| &k.public_key))?)
    }

    /// The id of the key that signs new artifacts, if there is one.
    pub fn active_key_id(&mut self) -> Result<Option<KeyId>> {
        Ok(self.ledger.read(|tx| tx.active_key())?.map(|k| k.key_id))
    }
}
