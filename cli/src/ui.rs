//! `tollgate host ui`: serves the License page (`tollgate-page`) for this host's state.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use clap::Args;
use serde_json::json;
use tollgate_page::{check_listen, Auth, LicensePage, PageConfig, PageFeatureSet};
use tollgate_sdk::{BearerToken, LicenseManager};

use crate::exit::Failure;
use crate::output::Out;

/// `tollgate host ui` options.
#[derive(Args, Debug)]
pub struct UiArgs {
    /// Where to listen. Loopback only unless --allow-remote (which also needs --token-file).
    /// Port 0 picks a free port; the URL is printed.
    #[arg(long, default_value = "127.0.0.1:8089")]
    listen: SocketAddr,
    /// Allows a non-loopback --listen address (with a token).
    #[arg(long)]
    allow_remote: bool,
    /// A file holding the token the page's API requires (`Authorization: Bearer`); open the
    /// printed URL, which carries it as `#token=…`.
    #[arg(long, env = "TOLLGATE_PAGE_TOKEN_FILE")]
    token_file: Option<PathBuf>,
    /// Host names the page answers to besides loopback ones (with --allow-remote).
    #[arg(long = "allowed-host")]
    allowed_hosts: Vec<String>,
    /// The online licensing service (enables the Online method).
    #[arg(long, env = "TOLLGATE_SERVER")]
    server: Option<String>,
    /// Trust only this CA certificate (PEM) for the service's TLS certificate.
    #[arg(long)]
    ca_cert: Option<PathBuf>,
    /// The floating license server the wizard proposes.
    #[arg(long)]
    floating_server: Option<String>,
    /// A feature set offered for a floating checkout: `NAME=feature,feature`. Repeatable.
    #[arg(long = "feature-set", value_name = "NAME=FEATURES")]
    feature_sets: Vec<String>,
    /// Who usage requests and deactivation codes go to, shown in the wizard.
    #[arg(long, default_value = "the vendor")]
    vendor: String,
    /// Where the Upgrade License button leads (the vendor's shop).
    #[arg(long)]
    upgrade_url: Option<String>,
}

fn feature_set(spec: &str) -> Result<PageFeatureSet, Failure> {
    let (name, features) = spec
        .split_once('=')
        .ok_or_else(|| Failure::usage(format!("`{spec}`: use NAME=feature,feature")))?;
    let features: Vec<String> = features
        .split(',')
        .map(str::trim)
        .filter(|f| !f.is_empty())
        .map(str::to_owned)
        .collect();
    if name.trim().is_empty() || features.is_empty() {
        return Err(Failure::usage(format!(
            "`{spec}`: a feature set needs a name and at least one feature"
        )));
    }
    Ok(PageFeatureSet {
        name: name.trim().to_owned(),
        features,
    })
}

/// Serves the page until interrupted (Ctrl-C or SIGTERM).
pub fn run(args: UiArgs, mgr: LicenseManager, out: &Out) -> Result<u8, Failure> {
    let token = match &args.token_file {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| Failure::io(&format!("cannot read {}", p.display()), &e))?;
            Some(BearerToken::new(text.trim())?)
        }
        None => None,
    };
    let auth = token.clone().map_or(Auth::None, Auth::Token);
    check_listen(args.listen, args.allow_remote, &auth).map_err(|e| Failure {
        exit: 2,
        code: e.code,
        kind: "RemoteBind".into(),
        message: e.message,
    })?;
    let online = match &args.server {
        Some(s) => {
            let mut cfg = tollgate_sdk::online::OnlineConfig::new(s);
            if let Some(p) = &args.ca_cert {
                cfg.root_certs_pem = Some(
                    std::fs::read(p)
                        .map_err(|e| Failure::io(&format!("cannot read {}", p.display()), &e))?,
                );
            }
            Some(cfg)
        }
        None => None,
    };
    let config = PageConfig {
        vendor: args.vendor.clone(),
        online,
        floating_server: args.floating_server.clone(),
        floating_token: None,
        feature_sets: args
            .feature_sets
            .iter()
            .map(|s| feature_set(s))
            .collect::<Result<_, _>>()?,
        upgrade_url: args.upgrade_url.clone(),
        auth,
        allowed_hosts: args.allowed_hosts.clone(),
    };
    let page = Arc::new(LicensePage::new(Arc::new(RwLock::new(mgr)), config)?);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::io("cannot start the runtime", &e))?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| Failure::io(&format!("cannot listen on {}", args.listen), &e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::io("cannot read the listen address", &e))?;
        let host = if addr.ip().is_unspecified() {
            format!("127.0.0.1:{}", addr.port())
        } else {
            addr.to_string()
        };
        let url = match &token {
            Some(t) => format!("http://{host}/#token={}", t.expose()),
            None => format!("http://{host}/"),
        };
        out.emit(json!({"url": url, "listen": addr.to_string()}), || {
            format!("License page: {url}")
        });
        eprintln!("serving the License page until Ctrl-C or SIGTERM");
        tollgate_page::serve(page, listener, shutdown())
            .await
            .map_err(|e| Failure::io("the License page failed", &e))
    })?;
    Ok(0)
}

async fn shutdown() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
