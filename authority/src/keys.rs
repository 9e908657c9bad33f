//! Signing keys: create, rotate, list; the active signer for everything the authority signs.

use std::sync::Arc;

use serde_json::json;
use tollgate_core::{KeyId, Keyring, VendorSigningKey};

use crate::audit::audit;
use crate::error::{AuthorityError, Result};
use crate::keystore::KeyStore;
use crate::ledger::Tx;
use crate::records::{KeyStatus, SigningKeyInfo};
use crate::Authority;

/// The active signing key, loaded from its file (or kept from the last load).
pub(crate) fn active_signer(tx: &Tx<'_>, keys: &KeyStore) -> Result<Arc<VendorSigningKey>> {
    let info = tx.active_key()?.ok_or(AuthorityError::NoSigningKey)?;
    keys.signer(info.key_id)
}

impl Authority {
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
            certificate: None,
            withdrawn_at: None,
        };
        drop(key);
        let actor = self.actor.as_str();
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
