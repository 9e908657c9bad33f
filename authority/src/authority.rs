//! [`Authority`]: the vendor's state directory, opened on its ledger and key store. The
//! operations live by job in `keys`, `licenses`, `fulfilment`, `activations` and `audit`; the
//! decisions they take in [`crate::policy`].

use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{AuthorityError, Result};
use crate::keystore::{private_dir, KeyStore};
use crate::ledger::Ledger;
use crate::spec::AuthorityConfig;

/// The ledger file inside the state directory.
pub const LEDGER_FILE: &str = "ledger.sqlite";
/// The signing key directory inside the state directory.
pub const KEYS_DIR: &str = "keys";

/// Longest restore reason or actor name, in bytes.
const MAX_NOTE: usize = 4096;

/// The actor recorded in the audit log until [`Authority::set_actor`] is called.
pub const DEFAULT_ACTOR: &str = "vendor";

/// The vendor side of Tollgate: signing keys, the license ledger and every operation on them
/// (issue, fulfil, deactivate, restore, upgrade, audit).
///
/// An `Authority` owns one connection to the ledger of one state directory. Every operation
/// is one ledger transaction taken with the write lock first (`BEGIN IMMEDIATE`), so several
/// processes (the CLI, the online service, …) may work on the same directory at once and a
/// seat is never given twice. Use one `Authority` per thread; it is `Send` but not `Sync`.
///
/// No call reads a clock: each takes `now` (Unix seconds) from the caller.
pub struct Authority {
    pub(crate) dir: PathBuf,
    pub(crate) ledger: Ledger,
    pub(crate) keys: KeyStore,
    pub(crate) config: AuthorityConfig,
    pub(crate) actor: String,
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("dir", &self.dir)
            .field("actor", &self.actor)
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

/// Checks a free-text note (a restore reason, an operator or actor name).
pub(crate) fn check_note(what: &str, s: &str) -> Result<()> {
    if s.trim().is_empty() || s.len() > MAX_NOTE {
        return Err(AuthorityError::invalid(format!(
            "{what} must be 1-{MAX_NOTE} bytes and not blank"
        )));
    }
    Ok(())
}

impl Authority {
    /// Opens the vendor state directory `dir`, creating it and `dir/keys/` (mode 0700) and
    /// `dir/ledger.sqlite` (mode 0600) if needed, and bringing the ledger schema up to date.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(dir, AuthorityConfig::default())
    }

    /// Like [`Authority::open`], with explicit settings.
    pub fn open_with(dir: impl AsRef<Path>, config: AuthorityConfig) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        private_dir(&dir)?;
        let keys = KeyStore::open(dir.join(KEYS_DIR))?;
        // The ledger holds key auth secrets: create it private (SQLite gives its -wal and
        // -shm files the same mode).
        let ledger_path = dir.join(LEDGER_FILE);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create(true).truncate(false);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        opts.open(&ledger_path)
            .map_err(|e| AuthorityError::io(&ledger_path, e))?;
        let ledger = Ledger::open(&ledger_path, config.busy_timeout)?;
        Ok(Authority {
            dir,
            ledger,
            keys,
            config,
            actor: DEFAULT_ACTOR.into(),
        })
    }

    /// Opens a vendor state directory whose ledger lives in PostgreSQL (feature `postgres`):
    /// the signing keys stay in `dir/keys/` (created with mode 0700 if needed), the ledger is
    /// the database at `url` (`postgres://user:password@host:port/database`), whose schema is
    /// brought up to date — the same migrations as SQLite's. Several `Authority` values, in
    /// one process or many, may share the database; each holds one connection. The URL is not
    /// kept where `Debug` or an error could show it. The connection is not encrypted: use a
    /// database on the same host or a private network.
    ///
    /// Fails with [`AuthorityError::Db`] when the database cannot be reached, and like
    /// [`Authority::open`] otherwise.
    #[cfg(feature = "postgres")]
    pub fn open_postgres(
        dir: impl AsRef<Path>,
        url: &str,
        config: AuthorityConfig,
    ) -> Result<Self> {
        let dir = dir.as_ref().to_path_buf();
        private_dir(&dir)?;
        let keys = KeyStore::open(dir.join(KEYS_DIR))?;
        let ledger = Ledger::connect_postgres(url, config.busy_timeout)?;
        Ok(Authority {
            dir,
            ledger,
            keys,
            config,
            actor: DEFAULT_ACTOR.into(),
        })
    }

    /// The ledger's database: `"sqlite"` or `"postgres"`.
    pub fn backend(&self) -> &'static str {
        match self.ledger.dialect() {
            crate::ledger::Dialect::Sqlite => "sqlite",
            crate::ledger::Dialect::Postgres => "postgres",
        }
    }

    /// The state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The settings in use.
    pub fn config(&self) -> &AuthorityConfig {
        &self.config
    }

    /// Sets who is recorded in the audit log for the following calls (an operator's name,
    /// `online-service`, …). Fails if blank or longer than 4096 bytes.
    pub fn set_actor(&mut self, actor: impl Into<String>) -> Result<()> {
        let actor = actor.into();
        check_note("actor", &actor)?;
        self.actor = actor;
        Ok(())
    }

    /// Who is recorded in the audit log.
    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// The ledger's schema version.
    pub fn schema_version(&mut self) -> Result<u32> {
        self.ledger.schema_version()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_is_send() {
        fn is_send<T: Send>() {}
        is_send::<Authority>();
    }
}
