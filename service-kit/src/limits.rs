//! Connection limits for both services: a cap on concurrent connections overall and per client
//! address, an idle timeout (no byte read for that long closes the connection) and, through
//! hyper, a header-read timeout (a request whose headers do not arrive in time is dropped), so
//! that idle or slow-header ("slowloris") connections cannot hold every file descriptor and
//! stop `/healthz` and real requests from being answered.
//!
//! A connection over a cap is closed at once, before TLS or HTTP, and counted
//! ([`ConnGuard::refused`]).

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum_server::accept::Accept;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

/// The connection limits of a service. The defaults suit a service under the common 1024
/// open-files limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnLimits {
    /// Concurrent connections overall. Default 768.
    pub max_connections: usize,
    /// Concurrent connections from one client address. Default 64.
    pub max_per_address: usize,
    /// Longest wait for a request's headers. Default 10 s.
    pub header_read_timeout: Duration,
    /// A connection on which nothing arrives for this long is closed. Default 60 s.
    pub idle_timeout: Duration,
}

impl Default for ConnLimits {
    fn default() -> Self {
        ConnLimits {
            max_connections: 768,
            max_per_address: 64,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(60),
        }
    }
}

/// Raises this process's open-files soft limit (`RLIMIT_NOFILE`) to its hard limit where the
/// system allows it, and logs the old and new soft limits; warns when the result leaves too
/// few descriptors for `limits.max_connections` (plus 64 for the database, logs and
/// listeners). Returns `(old, new)`, or `None` when the limit cannot be read or raised (the
/// error is logged and the server keeps its limit). Both servers call it at start-up.
pub fn raise_nofile_limit(limits: &ConnLimits) -> Option<(u64, u64)> {
    let (old, hard) = match rlimit::Resource::NOFILE.get() {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-files limit (RLIMIT_NOFILE)");
            return None;
        }
    };
    let new = match rlimit::increase_nofile_limit(hard) {
        Ok(new) => new,
        Err(e) => {
            tracing::warn!(error = %e, soft = old, hard, "cannot raise the open-files limit (RLIMIT_NOFILE)");
            return None;
        }
    };
    tracing::info!(old, new, hard, "open-files soft limit (RLIMIT_NOFILE)");
    let needed = u64::try_from(limits.max_connections)
        .unwrap_or(u64::MAX)
        .saturating_add(64);
    if new < needed {
        tracing::warn!(
            limit = new,
            max_connections = limits.max_connections,
            "the open-files limit leaves too few descriptors for max_connections; lower \
             [connections] max_connections or raise the hard limit (LimitNOFILE=)"
        );
    }
    Some((old, new))
}

/// The shared count of open connections, overall and per address.
#[derive(Debug)]
pub struct ConnGuard {
    limits: ConnLimits,
    total: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
    refused: AtomicU64,
}

impl ConnGuard {
    /// A guard enforcing `limits`.
    pub fn new(limits: ConnLimits) -> Arc<Self> {
        Arc::new(ConnGuard {
            limits,
            total: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
            refused: AtomicU64::new(0),
        })
    }

    /// The limits it enforces.
    pub fn limits(&self) -> ConnLimits {
        self.limits
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    /// Connections refused (closed at once) because a cap was reached, since start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Takes a slot for a connection from `ip`, or `None` over a cap.
    fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let mut map = self.per_address.lock().unwrap_or_else(|p| p.into_inner());
        let mine = map.get(&ip).copied().unwrap_or(0);
        let total = self.total.load(Ordering::Relaxed);
        if mine >= self.limits.max_per_address || total >= self.limits.max_connections {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        map.insert(ip, mine + 1);
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(Slot {
            guard: Arc::clone(self),
            ip,
        })
    }
}

/// One admitted connection's place in the counts; given back when dropped.
#[derive(Debug)]
struct Slot {
    guard: Arc<ConnGuard>,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut map = self
            .guard
            .per_address
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&self.ip);
            }
        }
        self.guard.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A TCP stream that holds its connection slot and closes itself when idle.
#[derive(Debug)]
pub struct Limited {
    inner: TcpStream,
    _slot: Slot,
    idle: Duration,
    deadline: Pin<Box<Sleep>>,
}

impl Limited {
    fn touch(&mut self) {
        let next = Instant::now() + self.idle;
        self.deadline.as_mut().reset(next);
    }
}

impl AsyncRead for Limited {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending => match this.deadline.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connection idle for too long",
                ))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl AsyncWrite for Limited {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let r = Pin::new(&mut this.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            this.touch();
        }
        r
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An acceptor that admits a connection only within the caps, then hands a [`Limited`] stream
/// to `inner` (plain HTTP or TLS).
#[derive(Clone, Debug)]
pub struct LimitAcceptor<A> {
    inner: A,
    guard: Arc<ConnGuard>,
}

impl<A> LimitAcceptor<A> {
    /// Wraps `inner` with `guard`'s caps.
    pub fn new(inner: A, guard: Arc<ConnGuard>) -> Self {
        LimitAcceptor { inner, guard }
    }
}

impl<S, A> Accept<TcpStream, S> for LimitAcceptor<A>
where
    A: Accept<Limited, S> + Clone + Send + 'static,
    A::Future: Send + 'static,
    S: Send + 'static,
{
    type Stream = A::Stream;
    type Service = A::Service;
    type Future = Pin<Box<dyn Future<Output = io::Result<(A::Stream, A::Service)>> + Send>>;

    fn accept(&self, stream: TcpStream, service: S) -> Self::Future {
        let admitted = stream
            .peer_addr()
            .ok()
            .and_then(|a| self.guard.admit(a.ip()));
        let inner = self.inner.clone();
        let idle = self.guard.limits.idle_timeout;
        Box::pin(async move {
            let Some(slot) = admitted else {
                drop(stream);
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionRefused,
                    "too many connections",
                ));
            };
            let limited = Limited {
                inner: stream,
                _slot: slot,
                idle,
                deadline: Box::pin(tokio::time::sleep(idle)),
            };
            inner.accept(limited, service).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The soft limit ends at the hard limit (an unprivileged process may always raise its
    /// soft limit up to the hard one), and what the call returns is what the process has.
    #[cfg(target_os = "linux")]
    #[test]
    fn the_open_files_soft_limit_is_raised_to_the_hard_limit() {
        let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
        let (old, new) = raise_nofile_limit(&ConnLimits::default()).unwrap();
        assert!(new >= old, "{old} -> {new}");
        assert_eq!(rlimit::Resource::NOFILE.get().unwrap(), (new, hard));
        if hard != rlimit::INFINITY {
            assert_eq!(new, hard);
        }
        // A second call changes nothing.
        assert_eq!(raise_nofile_limit(&ConnLimits::default()), Some((new, new)));
    }
}
