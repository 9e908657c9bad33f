//! License events: a thread that tells the host when its license state changes, instead of
//! the host polling [`crate::LicenseManager::status`].
//!
//! A [`StatusWatch`] compares successive statuses of one manager and reports each change as a
//! [`LicenseEvent`] to a callback, on its own thread (`tollgate-events`), one event at a time,
//! in order, with no manager lock held: the callback may call the manager. It looks again at
//! once when the manager changes (an install, a refresh, a deactivation: the manager's
//! [`ChangeSignal`]), and every `interval` for what time alone changes (an expiry, a refresh
//! deadline passing, a clock set back).
//!
//! The first status seen is the baseline and reports nothing.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::{JoinHandle, ThreadId};
use std::time::Duration;

use crate::error::{Result, SdkError};
use crate::manager::{LicenseState, Status};

/// What changed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u32)]
pub enum LicenseEventKind {
    /// A usage license was installed: a first activation, or a renewal, upgrade or online
    /// refresh of the one installed (a new revision, refresh deadline or installation).
    Installed = 1,
    /// A new warning that a feature or the license expires soon (within the configuration's
    /// `warn_days`); [`LicenseEvent::message`] says which.
    ExpiringSoon = 2,
    /// The license stopped being usable: expired, refresh overdue, fingerprint mismatch,
    /// invalid ([`LicenseEvent::error_code`] says why).
    Lost = 3,
    /// The clock was set back beyond the tolerance: nothing is licensed until it is corrected.
    ClockRollback = 4,
    /// The license was deactivated on this host.
    Deactivated = 5,
    /// Any other change of [`LicenseEvent::state`] (e.g. active again after a clock was
    /// corrected, a usage request pending).
    StateChanged = 6,
}

impl LicenseEventKind {
    /// The stable number of this kind (the C and Java constants).
    pub const fn code(self) -> u32 {
        self as u32
    }

    /// The stable snake_case name, e.g. `expiring_soon`.
    pub const fn name(self) -> &'static str {
        match self {
            LicenseEventKind::Installed => "installed",
            LicenseEventKind::ExpiringSoon => "expiring_soon",
            LicenseEventKind::Lost => "lost",
            LicenseEventKind::ClockRollback => "clock_rollback",
            LicenseEventKind::Deactivated => "deactivated",
            LicenseEventKind::StateChanged => "state_changed",
        }
    }
}

/// One change of a manager's license state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LicenseEvent {
    /// What changed.
    pub kind: LicenseEventKind,
    /// The state now.
    pub state: LicenseState,
    /// The state before.
    pub previous: LicenseState,
    /// Why the state is not active now: a result code, or 0.
    pub error_code: u32,
    /// The installed license's revision (0 without one).
    pub revision: u32,
    /// The installed license's activation id (0 without one).
    pub activation_id: u64,
    /// The warning of an [`LicenseEventKind::ExpiringSoon`] event, else empty.
    pub message: String,
}

/// Wakes the [`StatusWatch`]es of one manager when it changes
/// ([`crate::LicenseManager::change_signal`]).
#[derive(Default)]
pub struct ChangeSignal {
    watchers: Mutex<Vec<Weak<Wake>>>,
}

impl std::fmt::Debug for ChangeSignal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeSignal").finish_non_exhaustive()
    }
}

impl ChangeSignal {
    /// Tells every watch to look again.
    pub fn notify(&self) {
        let mut watchers = self.watchers.lock().unwrap_or_else(|p| p.into_inner());
        watchers.retain(|w| match w.upgrade() {
            Some(w) => {
                w.poke();
                true
            }
            None => false,
        });
    }

    fn register(&self, wake: &Arc<Wake>) {
        self.watchers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(Arc::downgrade(wake));
    }
}

#[derive(Default)]
struct Flags {
    stop: bool,
    poked: bool,
}

#[derive(Default)]
struct Wake {
    flags: Mutex<Flags>,
    cvar: Condvar,
}

impl Wake {
    fn lock(&self) -> MutexGuard<'_, Flags> {
        self.flags.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn poke(&self) {
        self.lock().poked = true;
        self.cvar.notify_all();
    }

    /// Waits `d` or until poked or stopped; false when stopped.
    fn wait(&self, d: Duration) -> bool {
        let mut f = self.lock();
        if !f.poked && !f.stop {
            f = self
                .cvar
                .wait_timeout_while(f, d, |f| !f.poked && !f.stop)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        f.poked = false;
        !f.stop
    }
}

/// A thread reporting the license events of one manager (see the module docs). Stopping or
/// dropping it ends the thread after the callback in progress, if any, returns.
pub struct StatusWatch {
    wake: Arc<Wake>,
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl std::fmt::Debug for StatusWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusWatch").finish_non_exhaustive()
    }
}

impl StatusWatch {
    /// Starts watching: `status` reads the manager's status now (`None` once the manager is
    /// closed, which ends the watch), `signal` is the manager's
    /// [`crate::LicenseManager::change_signal`], `interval` how often to look when nothing
    /// signals (at least 1 ms), and `on_event` gets each event on the watch's thread.
    ///
    /// Fails with [`SdkError::InvalidArgument`] for a zero interval, or [`SdkError::Storage`]
    /// when the thread cannot be started.
    pub fn start(
        status: impl Fn() -> Option<Status> + Send + 'static,
        signal: &ChangeSignal,
        interval: Duration,
        on_event: impl Fn(&LicenseEvent) + Send + 'static,
    ) -> Result<Self> {
        if interval.is_zero() {
            return Err(SdkError::invalid(
                "the watch interval must be at least 1 ms",
            ));
        }
        let wake = Arc::new(Wake::default());
        signal.register(&wake);
        let waker = Arc::clone(&wake);
        let baseline = status();
        let thread = std::thread::Builder::new()
            .name("tollgate-events".into())
            .spawn(move || {
                let mut last = baseline;
                while waker.wait(interval) {
                    let Some(now) = status() else { return };
                    if let Some(before) = &last {
                        for event in diff(before, &now) {
                            if waker.lock().stop {
                                return;
                            }
                            on_event(&event);
                        }
                    }
                    last = Some(now);
                }
            })
            .map_err(SdkError::from)?;
        let thread_id = thread.thread().id();
        Ok(StatusWatch {
            wake,
            thread: Some(thread),
            thread_id,
        })
    }

    /// Looks again now (e.g. after the clock was changed in a test).
    pub fn poke(&self) {
        self.wake.poke();
    }

    /// Stops the thread; waits for it unless called from the watch's own callback.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.wake.lock().stop = true;
        self.wake.cvar.notify_all();
        if let Some(t) = self.thread.take() {
            if std::thread::current().id() != self.thread_id {
                let _ = t.join();
            }
        }
    }
}

impl Drop for StatusWatch {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// A usable license's identity: a change means a new usage license was installed.
fn installed_identity(s: &Status) -> Option<(u64, u32, &str, Option<&str>)> {
    s.license.as_ref().map(|l| {
        (
            l.activation_id,
            l.revision,
            l.issued_at.as_str(),
            l.refresh_deadline.as_deref(),
        )
    })
}

fn expiry_warnings(s: &Status) -> impl Iterator<Item = &String> {
    s.warnings.iter().filter(|w| w.contains(" expire"))
}

/// The events between two statuses, in a fixed order.
pub fn diff(before: &Status, now: &Status) -> Vec<LicenseEvent> {
    let event = |kind, message: String| LicenseEvent {
        kind,
        state: now.state,
        previous: before.state,
        error_code: now.error.as_ref().map_or(0, |e| e.code),
        revision: now.license.as_ref().map_or(0, |l| l.revision),
        activation_id: now.license.as_ref().map_or(0, |l| l.activation_id),
        message,
    };
    let mut out = Vec::new();
    let installed_now = installed_identity(now);
    if installed_now.is_some() && installed_now != installed_identity(before) {
        out.push(event(LicenseEventKind::Installed, String::new()));
    } else if before.license.is_some() && now.license.is_none() && !now.pending_request {
        out.push(event(LicenseEventKind::Deactivated, String::new()));
    }
    if now.state != before.state {
        let kind = match now.state {
            LicenseState::ClockRollback => Some(LicenseEventKind::ClockRollback),
            LicenseState::Expired
            | LicenseState::RefreshOverdue
            | LicenseState::FingerprintMismatch
            | LicenseState::Invalid
            | LicenseState::NotYetValid
                if before.state == LicenseState::Active =>
            {
                Some(LicenseEventKind::Lost)
            }
            _ if out.is_empty() => Some(LicenseEventKind::StateChanged),
            _ => None,
        };
        if let Some(kind) = kind {
            out.push(event(kind, String::new()));
        }
    }
    for w in expiry_warnings(now) {
        if !expiry_warnings(before).any(|b| same_warning(b, w)) {
            out.push(event(LicenseEventKind::ExpiringSoon, w.clone()));
        }
    }
    out
}

/// Two expiry warnings about the same thing (their "in N days" part counts down).
fn same_warning(a: &str, b: &str) -> bool {
    let subject = |w: &str| w.split(" expire").next().map(str::to_owned);
    subject(a) == subject(b)
}
