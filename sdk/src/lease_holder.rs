//! [`LeaseHolder`]: a [`FloatingClient`] together with the one lease it holds, shareable between
//! threads. What the C and Java bindings hand out as a floating client handle, so the "at most
//! one lease, kept across checkouts" rule is written once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{PoisonError, RwLock};

use crate::cancel::CallScope;
use crate::error::Result;
use crate::floating::{FloatingClient, FloatingLease};

/// A floating license client holding at most one lease at a time.
///
/// [`LeaseHolder::checkout`] checks a lease out unless one is held; [`LeaseHolder::has_feature`]
/// and [`LeaseHolder::lease_id`] answer from the lease held; [`LeaseHolder::release`] gives it
/// back. Dropping the holder drops the lease, which releases it.
///
/// # Thread safety
///
/// `Send + Sync`: every method takes `&self`. Two threads checking out at once may both reach
/// the server; only one lease is kept and the other is released. No lock is held while talking
/// to the server. Nothing panics under the lock, so a poisoned lock is used as it is.
pub struct LeaseHolder {
    client: FloatingClient,
    lease: RwLock<Option<FloatingLease>>,
    closed: AtomicBool,
    /// The checkouts in flight, cancelled by [`LeaseHolder::close`].
    calls: CallScope,
}

impl std::fmt::Debug for LeaseHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LeaseHolder")
            .field("lease_id", &self.lease_id())
            .field("closed", &self.is_closed())
            .finish_non_exhaustive()
    }
}

impl LeaseHolder {
    /// A holder of `client`'s leases, holding none yet.
    pub fn new(client: FloatingClient) -> Self {
        LeaseHolder {
            client,
            lease: RwLock::new(None),
            closed: AtomicBool::new(false),
            calls: CallScope::new(),
        }
    }

    /// The client.
    pub fn client(&self) -> &FloatingClient {
        &self.client
    }

    /// Checks the feature set out as a lease ([`FloatingClient::checkout`]) unless a lease is
    /// already held, which is kept. Fails as [`FloatingClient::checkout`] does. After
    /// [`LeaseHolder::close`], a lease checked out is released at once instead of kept.
    ///
    /// The call waits for the server on a token that [`LeaseHolder::close`] cancels: a
    /// checkout in flight then fails at once with [`crate::SdkError::Cancelled`] (240), and
    /// one started after `close` fails with it before sending anything.
    pub fn checkout(&self) -> Result<()> {
        if self
            .lease
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
        {
            return Ok(());
        }
        let call = self.calls.enter()?;
        let lease = self.client.checkout_with(|_| {}, Some(call.token()))?;
        drop(call);
        let mut slot = self.lease.write().unwrap_or_else(PoisonError::into_inner);
        // Another thread may have checked out meanwhile (or closed): keep at most one lease;
        // the other is released when dropped, after the lock.
        let extra = if slot.is_some() || self.is_closed() {
            Some(lease)
        } else {
            *slot = Some(lease);
            None
        };
        drop(slot);
        drop(extra);
        Ok(())
    }

    /// Whether the lease held grants feature `name` now (`false` when none is held).
    pub fn has_feature(&self, name: &str) -> bool {
        let lease = self.lease.read().unwrap_or_else(PoisonError::into_inner);
        lease.as_ref().is_some_and(|l| l.has_feature(name))
    }

    /// The id of the lease held, 0 when none is.
    pub fn lease_id(&self) -> u64 {
        let lease = self.lease.read().unwrap_or_else(PoisonError::into_inner);
        lease.as_ref().map_or(0, FloatingLease::lease_id)
    }

    /// Releases the lease held at the server, if any. Fails as [`FloatingLease::release`]
    /// does; the lease is given up either way (the server reclaims it when it ends).
    pub fn release(&self) -> Result<()> {
        let lease = self
            .lease
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        match lease {
            Some(lease) => lease.release(),
            None => Ok(()),
        }
    }

    /// Marks the holder closed (see [`LeaseHolder::is_closed`]), cancels the checkouts in
    /// flight (they fail with [`crate::SdkError::Cancelled`]; `close` waits only until they
    /// have returned, which they do at once) and releases the lease held, best effort: the
    /// server reclaims the seats when the lease ends if the release does not arrive (the
    /// release waits at most the client's `timeout`).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.calls.close("the floating client was closed");
        let _ = self.release();
    }

    /// Whether [`LeaseHolder::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}
