//! Start-up and shutdown: serving a router over HTTP or HTTPS until a shutdown future
//! completes (then no new connections, requests in flight finish within a grace period), a
//! background runner for tests and tools, the signal handler and the log subscriber.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum_server::accept::DefaultAcceptor;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use axum_server::Handle;

use crate::config::{LogFormat, Tls};
use crate::limits::{ConnGuard, ConnLimits, LimitAcceptor};

/// Serves `app` on `listener` (HTTPS with `tls`) until `shutdown` completes, then stops
/// accepting and lets requests in flight finish for up to `grace`; with the default
/// [`ConnLimits`].
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<&Tls>,
    grace: Duration,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let guard = ConnGuard::new(ConnLimits::default());
    serve_limited(listener, app, tls, grace, guard, shutdown).await
}

/// [`serve`] within the connection limits of `guard` (caps overall and per address, idle
/// timeout, header-read timeout).
pub async fn serve_limited(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<&Tls>,
    grace: Duration,
    guard: Arc<ConnGuard>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let header_timeout = guard.limits().header_read_timeout;
    let app = app.into_make_service_with_connect_info::<SocketAddr>();
    let handle = Handle::new();
    {
        let handle = handle.clone();
        tokio::spawn(async move {
            shutdown.await;
            tracing::info!("shutting down: no new connections, finishing requests in flight");
            handle.graceful_shutdown(Some(grace));
        });
    }
    let mut server = axum_server::from_tcp(listener)?.handle(handle);
    server
        .http_builder()
        .http1()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout);
    match tls {
        Some(tls) => {
            let rustls = RustlsConfig::from_config(Arc::new(tls_config(tls)?));
            let acceptor =
                LimitAcceptor::new(RustlsAcceptor::new(rustls).acceptor(DefaultAcceptor), guard);
            server.acceptor(acceptor).serve(app).await
        }
        None => {
            server
                .acceptor(LimitAcceptor::new(DefaultAcceptor, guard))
                .serve(app)
                .await
        }
    }
}

/// A service running on a background thread with its own runtime (tests, tools, embedding),
/// with its shared state `S` at hand. Dropping it stops it.
#[derive(Debug)]
pub struct Background<E: std::fmt::Display + Send + 'static, S> {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<Result<(), E>>>,
    state: Arc<S>,
}

/// The future a [`Background`] service gets: it completes when the service is to stop.
pub type StopSignal = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

impl<E: std::fmt::Display + Send + 'static, S> Background<E, S> {
    /// Runs `serve(listener, stop)` on a thread named `name` with a multi-threaded runtime;
    /// `stop` completes when [`Background::stop`] is called or the value is dropped.
    pub fn start<Fut>(
        name: &str,
        listener: std::net::TcpListener,
        state: Arc<S>,
        serve: impl FnOnce(std::net::TcpListener, StopSignal) -> Fut + Send + 'static,
    ) -> std::io::Result<Self>
    where
        Fut: Future<Output = Result<(), E>>,
    {
        let addr = listener.local_addr()?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .thread_name(name)
            .build()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                runtime.block_on(serve(
                    listener,
                    Box::pin(async move {
                        let _ = stopped.await;
                    }),
                ))
            })?;
        Ok(Background {
            addr,
            stop: Some(stop),
            thread: Some(thread),
            state,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR` (or `https://` when TLS is configured, which the caller knows).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The service's shared state (metrics, leases…), for tests.
    pub fn state(&self) -> &Arc<S> {
        &self.state
    }

    /// Stops accepting, finishes requests in flight and waits for the service to close.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            match t.join() {
                Ok(Err(e)) => tracing::error!(error = %e, "server failed"),
                Err(_) => tracing::error!("server thread panicked"),
                Ok(Ok(())) => {}
            }
        }
    }
}

impl<E: std::fmt::Display + Send + 'static, S> Drop for Background<E, S> {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// The rustls server configuration (ring provider) for a certificate and key in PEM files.
pub fn tls_config(tls: &Tls) -> Result<rustls::ServerConfig, std::io::Error> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{what}: {e}"))
    };
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .map_err(|e| bad(&tls.cert.display().to_string(), &e))?;
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| bad(&tls.key.display().to_string(), &e))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| bad("TLS", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("TLS certificate", &e))
}

/// Completes on SIGTERM or ctrl-c (SIGINT).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// Sets up the global log subscriber: `format` lines on standard error, filtered by the
/// `TOLLGATE_LOG` variable (default `info`). Does nothing if one is already set.
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
