//! Durable storage of the license state.
//!
//! The runtime keeps one small document per name and always replaces it whole, so a storage
//! backend only needs atomic whole-file replacement: after a crash, the old or the new version is
//! there, never a mix. [`DirStorage`] provides that on a local file system.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::SdkError;

/// A place to keep named documents. Every `store` must replace the document atomically.
pub trait Storage: Send + Sync {
    /// The document `name`, or `None` if there is none.
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>>;
    /// Replaces (or creates) the document `name` atomically and durably.
    fn store(&self, name: &str, bytes: &[u8]) -> io::Result<()>;
    /// Removes the document `name`; removing a missing document succeeds.
    fn remove(&self, name: &str) -> io::Result<()>;
}

impl<S: Storage + ?Sized> Storage for Arc<S> {
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        (**self).load(name)
    }
    fn store(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        (**self).store(name, bytes)
    }
    fn remove(&self, name: &str) -> io::Result<()> {
        (**self).remove(name)
    }
}

const LOCK_FILE: &str = ".lock";
const TEMP_PREFIX: &str = ".tmp-";

/// Document names are 1–64 bytes of `a-z 0-9 . _ -`, not starting with a dot (dot files are the
/// lock and temporary files).
fn check_name(name: &str) -> io::Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('.')
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "invalid state document name",
        ))
    }
}

/// The state directory: one file per document, replaced atomically, guarded by an exclusive
/// advisory lock held for the lifetime of the value.
///
/// * the directory is created with mode 0700 and files with mode 0600 on Unix (the state holds
///   the device key's secret seed);
/// * a write goes to a temporary file in the same directory, which is flushed to disk, renamed
///   over the old file, and then the directory itself is flushed, so the rename is durable;
/// * a second [`DirStorage`] on the same directory, in this or another process, fails with
///   [`SdkError::StateLocked`] until the first is dropped (or its process dies).
#[derive(Debug)]
pub struct DirStorage {
    dir: PathBuf,
    _lock: File,
}

impl DirStorage {
    /// Opens (creating if needed) the state directory `dir` and locks it.
    ///
    /// Fails with [`SdkError::InvalidArgument`] if `dir` is empty (before touching the file
    /// system), [`SdkError::StateLocked`] if another holder has it, or [`SdkError::Storage`].
    /// Temporary files left by a crash are removed.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, SdkError> {
        let dir = dir.as_ref().to_path_buf();
        // Checked before touching the file system: an empty path would put the lock file in
        // the current directory.
        if dir.as_os_str().is_empty() {
            return Err(SdkError::invalid("the state directory path is empty"));
        }
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(&dir)?;
        let lock = private_options()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(LOCK_FILE))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => return Err(SdkError::StateLocked),
            // A file system without advisory locks: proceed unlocked rather than not at all.
            Err(fs::TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {}
            Err(fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        for entry in fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX) {
                fs::remove_file(entry.path())?;
            }
        }
        Ok(DirStorage { dir, _lock: lock })
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn sync_dir(&self) -> io::Result<()> {
        #[cfg(unix)]
        File::open(&self.dir)?.sync_all()?;
        Ok(())
    }
}

fn private_options() -> OpenOptions {
    #[allow(unused_mut)]
    let mut o = OpenOptions::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    o
}

impl Storage for DirStorage {
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        check_name(name)?;
        match fs::read(self.dir.join(name)) {
            Ok(b) => Ok(Some(b)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    fn store(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        check_name(name)?;
        let tmp = self.dir.join(format!("{TEMP_PREFIX}{name}"));
        let write = || -> io::Result<()> {
            match fs::remove_file(&tmp) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
            let mut f = private_options().write(true).create_new(true).open(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            drop(f);
            fs::rename(&tmp, self.dir.join(name))
        };
        if let Err(e) = write() {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.sync_dir()
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        match fs::remove_file(self.dir.join(name)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => self.sync_dir(),
        }
    }
}

/// Storage in memory, for tests and for hosts that keep no state. Clones share the same
/// documents, so a test can keep a handle and look inside.
#[derive(Clone, Debug, Default)]
pub struct MemoryStorage {
    docs: Arc<Mutex<HashMap<String, Vec<u8>>>>,
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn docs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Vec<u8>>> {
        self.docs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Storage for MemoryStorage {
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        check_name(name)?;
        Ok(self.docs().get(name).cloned())
    }

    fn store(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        check_name(name)?;
        self.docs().insert(name.to_owned(), bytes.to_vec());
        Ok(())
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        check_name(name)?;
        self.docs().remove(name);
        Ok(())
    }
}

/// A test helper: wraps a storage and makes its `n`-th write (counting from 1) fail without
/// touching the inner storage, as a full disk or a crash before the rename would.
#[derive(Debug)]
pub struct FailingStorage<S> {
    inner: S,
    fail_on: usize,
    writes: AtomicUsize,
}

impl<S: Storage> FailingStorage<S> {
    /// Wraps `inner`; the `fail_on`-th call to `store` fails (0 = never).
    pub fn new(inner: S, fail_on: usize) -> Self {
        FailingStorage {
            inner,
            fail_on,
            writes: AtomicUsize::new(0),
        }
    }

    /// How many writes were attempted so far.
    pub fn writes(&self) -> usize {
        self.writes.load(Ordering::SeqCst)
    }
}

impl<S: Storage> Storage for FailingStorage<S> {
    fn load(&self, name: &str) -> io::Result<Option<Vec<u8>>> {
        self.inner.load(name)
    }

    fn store(&self, name: &str, bytes: &[u8]) -> io::Result<()> {
        let n = self.writes.fetch_add(1, Ordering::SeqCst) + 1;
        if n == self.fail_on {
            return Err(io::Error::other("injected write failure"));
        }
        self.inner.store(name, bytes)
    }

    fn remove(&self, name: &str) -> io::Result<()> {
        self.inner.remove(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_storage_round_trip_and_modes() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let s = DirStorage::open(&dir).unwrap();
        assert_eq!(s.load("state.json").unwrap(), None);
        s.store("state.json", b"one").unwrap();
        s.store("state.json", b"two").unwrap();
        assert_eq!(s.load("state.json").unwrap().unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&dir.join("state.json")), 0o600);
            assert_eq!(mode(&dir.join(".lock")), 0o600);
        }
        let mut names: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, [".lock", "state.json"]);
        s.remove("state.json").unwrap();
        s.remove("state.json").unwrap();
        assert_eq!(s.load("state.json").unwrap(), None);
    }

    #[test]
    fn names_are_checked() {
        let s = MemoryStorage::new();
        for bad in ["", ".lock", "../x", "a/b", "A", &"x".repeat(65)] {
            assert_eq!(
                s.store(bad, b"x").unwrap_err().kind(),
                io::ErrorKind::InvalidInput,
                "{bad}"
            );
        }
    }

    #[test]
    fn second_open_is_locked_until_the_first_is_dropped() {
        let tmp = tempfile::tempdir().unwrap();
        let a = DirStorage::open(tmp.path()).unwrap();
        assert_eq!(
            DirStorage::open(tmp.path()).unwrap_err(),
            SdkError::StateLocked
        );
        drop(a);
        DirStorage::open(tmp.path()).unwrap();
    }

    #[test]
    fn stale_temp_files_are_removed_at_open() {
        let tmp = tempfile::tempdir().unwrap();
        fs::write(tmp.path().join(".tmp-state.json"), b"half").unwrap();
        let s = DirStorage::open(tmp.path()).unwrap();
        assert!(!tmp.path().join(".tmp-state.json").exists());
        s.store("state.json", b"x").unwrap();
    }

    #[test]
    fn failing_storage_fails_exactly_once() {
        let mem = MemoryStorage::new();
        let f = FailingStorage::new(mem.clone(), 2);
        f.store("a", b"1").unwrap();
        assert!(f.store("a", b"2").is_err());
        assert_eq!(mem.load("a").unwrap().unwrap(), b"1");
        f.store("a", b"3").unwrap();
        assert_eq!(f.writes(), 3);
        assert_eq!(mem.load("a").unwrap().unwrap(), b"3");
    }
}
