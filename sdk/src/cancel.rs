//! [`CancelToken`]: cancels online calls that wait for a service.
//!
//! An online call given a token ([`crate::online::OnlineClient::activate_shared`], …) waits
//! for each try of its request, and for each pause between tries, on the token: cancelling
//! the token ends the wait at once and the call fails with [`SdkError::Cancelled`] (240),
//! changing nothing on the host. The request already on the wire is abandoned: the thread
//! that carries it ends by itself at the latest when the client's per-try timeout expires,
//! and touches nothing but its own copy of the request.
//!
//! Tokens can be linked ([`CancelToken::link_to`]): a token is also cancelled when any token
//! it is linked to is. The bindings use this to cancel every call of a manager when it is
//! closed, and every call of a client when its `cancel` is called.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use crate::error::{Result, SdkError};

#[derive(Default)]
struct Flag {
    /// Why it was cancelled, once it is.
    cancelled: Option<String>,
    /// Tokens linked to this one, cancelled with it.
    children: Vec<Weak<Inner>>,
}

#[derive(Default)]
struct Inner {
    flag: Mutex<Flag>,
    wake: Condvar,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, Flag> {
        self.flag.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A one-shot cancellation signal shared by the caller of an online call and whoever may
/// cancel it (another thread, a `close`). Cheap to clone; all clones are the same token.
#[derive(Clone, Default)]
pub struct CancelToken {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for CancelToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CancelToken")
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

impl CancelToken {
    /// A token not cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Cancels this token and every token linked to it; the calls waiting on them return
    /// [`SdkError::Cancelled`] with `reason`. Cancelling again changes nothing.
    pub fn cancel(&self, reason: &str) {
        let children = {
            let mut flag = self.inner.lock();
            if flag.cancelled.is_some() {
                return;
            }
            flag.cancelled = Some(reason.to_owned());
            self.inner.wake.notify_all();
            std::mem::take(&mut flag.children)
        };
        for child in children.iter().filter_map(Weak::upgrade) {
            CancelToken { inner: child }.cancel(reason);
        }
    }

    /// Whether the token was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.inner.lock().cancelled.is_some()
    }

    /// `Err(Cancelled)` once the token is cancelled.
    pub fn check(&self) -> Result<()> {
        match &self.inner.lock().cancelled {
            Some(reason) => Err(SdkError::Cancelled {
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Makes this token cancelled whenever `parent` is (at once if it already is). The link
    /// holds no strong reference: a dropped token is forgotten.
    pub fn link_to(&self, parent: &CancelToken) {
        let reason = {
            let mut flag = parent.inner.lock();
            match &flag.cancelled {
                Some(reason) => reason.clone(),
                None => {
                    flag.children.retain(|c| c.strong_count() > 0);
                    flag.children.push(Arc::downgrade(&self.inner));
                    return;
                }
            }
        };
        self.cancel(&reason);
    }

    /// Wakes the calls waiting on this token so they look at their result again.
    fn notify(&self) {
        let _flag = self.inner.lock();
        self.inner.wake.notify_all();
    }

    /// Waits until `done` returns a value (checked under the token's lock, after every
    /// [`CancelToken::notify`]), the token is cancelled, or `timeout` passes (`None`).
    fn wait_for<T>(
        &self,
        timeout: Option<Duration>,
        mut done: impl FnMut() -> Option<T>,
    ) -> Result<Option<T>> {
        let deadline = timeout.map(|t| Instant::now() + t);
        let mut flag = self.inner.lock();
        loop {
            if let Some(reason) = &flag.cancelled {
                return Err(SdkError::Cancelled {
                    reason: reason.clone(),
                });
            }
            if let Some(v) = done() {
                return Ok(Some(v));
            }
            flag = match deadline {
                None => self
                    .inner
                    .wake
                    .wait(flag)
                    .unwrap_or_else(|p| p.into_inner()),
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(None);
                    }
                    self.inner
                        .wake
                        .wait_timeout(flag, left)
                        .unwrap_or_else(|p| p.into_inner())
                        .0
                }
            };
        }
    }

    /// Sleeps `pause`, or less when the token is cancelled (then `Err(Cancelled)`).
    pub fn sleep(&self, pause: Duration) -> Result<()> {
        self.wait_for(Some(pause), || None::<()>).map(|_| ())
    }

    /// Runs `work` on its own thread and waits for its result or the token's cancellation,
    /// whichever comes first. A cancelled `work` runs on, unobserved, until it ends.
    pub fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        self.check()?;
        let slot: Arc<Mutex<Option<T>>> = Arc::new(Mutex::new(None));
        let filled = Arc::clone(&slot);
        let token = self.clone();
        std::thread::Builder::new()
            .name("tollgate-online-io".into())
            .spawn(move || {
                let value = work();
                *filled.lock().unwrap_or_else(|p| p.into_inner()) = Some(value);
                token.notify();
            })
            .map_err(SdkError::from)?;
        let got = self.wait_for(None, || {
            slot.lock().unwrap_or_else(|p| p.into_inner()).take()
        })?;
        got.ok_or_else(|| SdkError::Cancelled {
            reason: "the online call ended without a result".into(),
        })
    }
}

/// The online calls in flight on one manager, for a binding whose `close` (or `free`) must
/// return promptly while a call waits for a service: [`CallScope::close`] cancels them all and
/// waits only until each has ended with [`SdkError::Cancelled`] and undone its request (a
/// matter of milliseconds: none waits for the network any more).
#[derive(Default)]
pub struct CallScope {
    closing: CancelToken,
    calls: Mutex<usize>,
    ended: Condvar,
}

impl std::fmt::Debug for CallScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallScope").finish_non_exhaustive()
    }
}

/// One call in a [`CallScope`]; ends the call when dropped.
#[derive(Debug)]
pub struct ScopedCall<'a> {
    scope: &'a CallScope,
    token: CancelToken,
}

impl ScopedCall<'_> {
    /// The call's token: cancelled when the scope closes.
    pub fn token(&self) -> &CancelToken {
        &self.token
    }
}

impl Drop for ScopedCall<'_> {
    fn drop(&mut self) {
        let mut calls = self.scope.calls.lock().unwrap_or_else(|p| p.into_inner());
        *calls -= 1;
        self.scope.ended.notify_all();
    }
}

impl CallScope {
    /// A scope with no call in flight.
    pub fn new() -> Self {
        Self::default()
    }

    /// Starts a call: its token is cancelled when the scope closes. Fails with
    /// [`SdkError::Cancelled`] once the scope is closed.
    pub fn enter(&self) -> Result<ScopedCall<'_>> {
        let mut calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        self.closing.check()?;
        *calls += 1;
        drop(calls);
        let token = CancelToken::new();
        token.link_to(&self.closing);
        Ok(ScopedCall { scope: self, token })
    }

    /// Cancels every call in flight with `reason`, refuses new ones, and waits until the calls
    /// in flight have returned.
    pub fn close(&self, reason: &str) {
        let calls = self.calls.lock().unwrap_or_else(|p| p.into_inner());
        self.closing.cancel(reason);
        let _idle = self
            .ended
            .wait_while(calls, |n| *n > 0)
            .unwrap_or_else(|p| p.into_inner());
    }

    /// Whether [`CallScope::close`] was called.
    pub fn is_closed(&self) -> bool {
        self.closing.is_cancelled()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::sync::mpsc;

    use super::*;

    #[test]
    fn cancelling_ends_a_blocked_run_and_reaches_linked_tokens() {
        let parent = CancelToken::new();
        let token = CancelToken::new();
        token.link_to(&parent);
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let waiter = {
            let token = token.clone();
            std::thread::spawn(move || {
                token.run(move || {
                    started_tx.send(()).unwrap();
                    let _ = release_rx.recv();
                    7
                })
            })
        };
        started_rx.recv().unwrap();
        parent.cancel("closed");
        assert_eq!(
            waiter.join().unwrap(),
            Err(SdkError::Cancelled {
                reason: "closed".into()
            })
        );
        assert!(token.is_cancelled());
        drop(release_tx);
        // Linking to a cancelled token cancels at once; a run on it never starts.
        let late = CancelToken::new();
        late.link_to(&parent);
        assert_eq!(late.run(|| 1).unwrap_err().code(), 240);
        assert_eq!(CancelToken::new().run(|| 5), Ok(5));
        assert_eq!(
            late.sleep(Duration::from_secs(3600)).unwrap_err().code(),
            240
        );
    }
}
