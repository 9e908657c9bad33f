//! Signing key files: `keys/<key id hex>.key`, 32 raw bytes of ed25519 seed, mode 0600; the
//! vendor root key in `keys/root.key`, same format.

use std::fs::{self, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tollgate_core::{KeyCertificate, KeyId, VendorSigningKey};
use zeroize::Zeroizing;

use crate::error::{AuthorityError, Result};

/// The root key's file name in the key directory.
pub(crate) const ROOT_FILE: &str = "root.key";

/// Reads a 32-byte seed file: `None` if it does not exist, [`AuthorityError::KeyFile`] if it
/// is not exactly 32 bytes. The seed is zeroized when dropped.
pub(crate) fn read_seed(path: &Path) -> Result<Option<Zeroizing<[u8; 32]>>> {
    let mut f = match fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AuthorityError::io(path, e)),
    };
    let mut seed = Zeroizing::new([0u8; 32]);
    let mut rest = [0u8; 1];
    if f.read_exact(seed.as_mut()).is_err() || !matches!(f.read(&mut rest), Ok(0)) {
        return Err(AuthorityError::KeyFile {
            path: path.to_path_buf(),
            problem: "not a 32-byte key seed",
        });
    }
    Ok(Some(seed))
}

/// The directory of key files, with the last key loaded kept in memory (signing many usage
/// licenses in a row must not read and check the key file each time).
pub(crate) struct KeyStore {
    dir: PathBuf,
    cached: Mutex<Option<Arc<VendorSigningKey>>>,
    /// The last certificate read back and verified, with its product.
    cert: Mutex<Option<(KeyCertificate, String)>>,
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
            cert: Mutex::new(None),
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
        self.write_new(&path, &seed)?;
        Ok((key, path))
    }

    /// The root key's file.
    pub fn root_path(&self) -> PathBuf {
        self.dir.join(ROOT_FILE)
    }

    /// Writes the root key's seed to `keys/root.key` (mode 0600). Fails with
    /// [`AuthorityError::RootKeyExists`] if there is one.
    pub fn write_root(&self, seed: &[u8; 32]) -> Result<VendorSigningKey> {
        let path = self.root_path();
        if path.exists() {
            return Err(AuthorityError::RootKeyExists);
        }
        self.write_new(&path, seed).map_err(|e| match e {
            AuthorityError::Io { source, .. }
                if source.kind() == std::io::ErrorKind::AlreadyExists =>
            {
                AuthorityError::RootKeyExists
            }
            e => e,
        })?;
        Ok(VendorSigningKey::from_seed(seed))
    }

    /// The root key, if the directory has one (`keys/root.key`, exactly 32 bytes).
    pub fn root(&self) -> Result<Option<VendorSigningKey>> {
        let path = self.root_path();
        match read_seed(&path)? {
            Some(seed) => Ok(Some(VendorSigningKey::from_seed(&seed))),
            None => Ok(None),
        }
    }

    fn write_new(&self, path: &Path, seed: &[u8; 32]) -> Result<()> {
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
        if let Err(e) = write(path) {
            // Do not leave a partial file behind (unless it was someone else's).
            if e.kind() != std::io::ErrorKind::AlreadyExists {
                let _ = fs::remove_file(path);
            }
            return Err(AuthorityError::io(path, e));
        }
        // Make the new directory entry durable too.
        if let Ok(d) = fs::File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
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

    /// The certificate of `key_id` for `product`, if it is the one kept in memory.
    pub fn cached_certificate(&self, key_id: KeyId, product: &str) -> Option<KeyCertificate> {
        let c = self.cert.lock().unwrap_or_else(|p| p.into_inner());
        c.as_ref()
            .filter(|(c, p)| c.key_id() == key_id && p == product)
            .map(|(c, _)| c.clone())
    }

    /// Keeps a certificate read back from the ledger (and verified) in memory.
    pub fn cache_certificate(&self, cert: &KeyCertificate, product: &str) {
        *self.cert.lock().unwrap_or_else(|p| p.into_inner()) =
            Some((cert.clone(), product.to_string()));
    }

    /// Removes a key file that was generated but never recorded.
    pub fn discard(&self, path: &Path) {
        let _ = fs::remove_file(path);
    }
}
