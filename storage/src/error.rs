//! The one error type of the storage layer.

use std::fmt;

/// Everything that can go wrong in a storage call.
///
/// The codes are those the ledger has always reported for the same failures (317–320), so a
/// caller that maps a [`StorageError`] into its own error keeps them.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The database was written by a newer version of this software.
    #[error("the database has schema version {found}; this software knows up to {supported}")]
    SchemaTooNew {
        /// The database's schema version.
        found: u32,
        /// The newest version this build knows.
        supported: u32,
    },
    /// Another process or connection held the write lock for longer than the busy or lock
    /// timeout, or PostgreSQL reported a serialization failure or a deadlock.
    #[error("the database is busy (locked by another process); try again")]
    Busy,
    /// The database driver failed.
    #[error("database error: {0}")]
    Db(#[source] DbError),
    /// A row holds a value this software cannot read back.
    #[error("database row is corrupt: {0}")]
    Corrupt(&'static str),
}

impl StorageError {
    /// The stable numeric code (shared with the ledger's error of the same meaning).
    pub fn code(&self) -> u32 {
        match self {
            StorageError::SchemaTooNew { .. } => 317,
            StorageError::Busy => 318,
            StorageError::Db(_) => 319,
            StorageError::Corrupt(_) => 320,
        }
    }

    /// A short message without details (no SQL, no paths), safe to show to a client.
    pub fn message(&self) -> &'static str {
        match self {
            StorageError::SchemaTooNew { .. } => {
                "the database was written by a newer version of this software"
            }
            StorageError::Busy => "the database is busy; try again",
            StorageError::Db(_) => "database error",
            StorageError::Corrupt(_) => "a database row is corrupt",
        }
    }
}

/// An opaque database error from the backend (SQLite or PostgreSQL). Its `Display` is the
/// backend's message; its source is the backend's error.
pub struct DbError(Box<dyn std::error::Error + Send + Sync + 'static>);

impl DbError {
    /// Wraps a backend's error.
    pub fn new(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        DbError(Box::new(e))
    }
}

impl fmt::Debug for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for DbError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for DbError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Shorthand for results in this crate.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;
