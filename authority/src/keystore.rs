//! Signing key files: `keys/<key id hex>.key`, 32 raw bytes of ed25519 seed, mode 0600.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tollgate_core::{KeyId, VendorSigningKey};
use zeroize::Zeroizing;

use crate::error::{AuthorityError, Result};

/// The directory of key files, with the last key loaded kept in memory (signing many usage
/// licenses in a row must not read and check the key file each time).
pub(crate) struct KeyStore {
    dir: PathBuf,
    cached: Mutex<Option<Arc<VendorSigningKey>>>,
}

/// Fills `buf` from the operating system's RNG.
pub(crate) fn random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|_| AuthorityError::Random)
}

/// Creates `dir` (and missing parents) with mode 0700 if it does not exist.
pub(crate) fn private_dir(dir: &Path) -> Result<()> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(|e| AuthorityError::io(dir, e))
}

impl KeyStore {
    /// Opens (creating with mode 0700 if needed) the key directory.
    pub fn open(dir: PathBuf) -> Result<Self> {
        private_dir(&dir)?;
        Ok(KeyStore {
            dir,
            cached: Mutex::new(None),
        })
    }

    /// The file of the key with this id.
    pub fn path_of(&self, id: KeyId) -> PathBuf {
        self.dir.join(format!("{}.key", id.to_hex()))
    }

    /// Generates a key from 32 fresh random bytes and writes its seed to a new file, created
    /// with mode 0600 from the start (never a wider window). Fails if the file exists.
    pub fn generate(&self) -> Result<(VendorSigningKey, PathBuf)> {
        let mut seed = Zeroizing::new([0u8; 32]);
        random(seed.as_mut())?;
        let key = VendorSigningKey::from_seed(&seed);
        let path = self.path_of(key.key_id());
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let write = |path: &Path| -> std::io::Result<()> {
            let mut f = opts.open(path)?;
            f.write_all(seed.as_ref())?;
            f.sync_all()
        };
        if let Err(e) = write(&path) {
            // Do not leave a partial file behind (unless it was someone else's).
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                let _ = fs::remove_file(&path);
            }
            return Err(AuthorityError::io(&path, e));
        }
        // Make the new directory entry durable too.
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok((key, path))
    }

    /// The key `id`: the one in memory if it is that key, otherwise [`KeyStore::load`]ed (and
    /// kept in memory).
    pub fn signer(&self, id: KeyId) -> Result<Arc<VendorSigningKey>> {
        let mut cached = self.cached.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = cached.as_ref().filter(|k| k.key_id() == id) {
            return Ok(Arc::clone(k));
        }
        let key = Arc::new(self.load(id)?);
        *cached = Some(Arc::clone(&key));
        Ok(key)
    }

    /// Loads the key `id`, checking that the file holds exactly that key.
    pub fn load(&self, id: KeyId) -> Result<VendorSigningKey> {
        let path = self.path_of(id);
        let mut seed = Zeroizing::new([0u8; 32]);
        let mut f = fs::File::open(&path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => AuthorityError::KeyFile {
                path: path.clone(),
                problem: "missing",
            },
            _ => AuthorityError::io(&path, e),
        })?;
        let mut rest = [0u8; 1];
        let ok = f.read_exact(seed.as_mut()).is_ok() && matches!(f.read(&mut rest), Ok(0));
        if !ok {
            return Err(AuthorityError::KeyFile {
                path,
                problem: "not a 32-byte key seed",
            });
        }
        let key = VendorSigningKey::from_seed(&seed);
        if key.key_id() != id {
            return Err(AuthorityError::KeyFile {
                path,
                problem: "holds a different key than its name says",
            });
        }
        Ok(key)
    }

    /// Removes a key file that was generated but never recorded.
    pub fn discard(&self, path: &Path) {
        let _ = fs::remove_file(path);
    }
}
