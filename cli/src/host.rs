//! `tollgate host …`: what the broker does, over `tollgate-sdk`'s `LicenseManager`.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::json;
use tollgate_core::{ComponentKind, Verifier};
use tollgate_sdk::{HostConfig, LicenseManager, LicenseState, SdkError, Status};

use crate::exit::Failure;
use crate::input::artifact;
use crate::output::{features_line, Out};

/// Host verbs.
#[derive(Args, Debug)]
pub struct HostArgs {
    /// The host's state directory (device key, pending request, installed license).
    #[arg(long, env = "TOLLGATE_STATE_DIR", default_value = "tollgate-state")]
    state: PathBuf,
    /// The product's host configuration (from `tollgate vendor host-config`): options only.
    /// The vendor root is compiled into this binary (TOLLGATE_VENDOR_ROOT at build time); a
    /// file naming vendor keys, a root or a tolerance is refused.
    #[arg(
        long,
        env = "TOLLGATE_HOST_CONFIG",
        default_value = "tollgate-host.json"
    )]
    config: PathBuf,
    /// Do not probe the machine; use only `--component` values.
    #[arg(long)]
    no_probes: bool,
    /// Sets a fingerprint component, replacing the probed one of that kind:
    /// `KIND=VALUE`, KIND one of machine-id, dmi-product-uuid, mac, root-disk, hostname,
    /// workload, cloud-instance, operator. Repeatable. The kinds the probes read (machine-id,
    /// dmi-product-uuid, mac, root-disk, hostname) need --allow-override.
    #[arg(long = "component", value_name = "KIND=VALUE")]
    components: Vec<String>,
    /// Allows --component to set a kind the probes read (machine-id, dmi-product-uuid, mac,
    /// root-disk, hostname): the value then CLAIMS an identity instead of measuring it. For
    /// tests and documented escape hatches only (e.g. a host whose probes cannot read its
    /// identifiers); never in production.
    #[arg(long)]
    allow_override: bool,
    #[command(subcommand)]
    cmd: HostCmd,
}

#[derive(Subcommand, Debug)]
enum HostCmd {
    /// Makes a usage request for a license key; prints it (`TGRQ:…`) for the vendor.
    Request {
        /// The license key. Prefer `--key-file` or the TOLLGATE_LICENSE_KEY variable: a key on
        /// the command line is visible to other local users.
        #[arg(long, env = "TOLLGATE_LICENSE_KEY", hide_env_values = true)]
        key: Option<String>,
        /// A file holding the license key.
        #[arg(long)]
        key_file: Option<PathBuf>,
    },
    /// Makes a new usage request for this host's activation without the key (the offline
    /// upgrade round trip).
    Renew,
    /// Installs a usage license (`TGUL:…`) from the vendor.
    Install {
        /// The usage license: a file, `-` for standard input, or the text itself.
        usage_license: Option<String>,
    },
    /// Shows the license status page.
    Status,
    /// Exits 0 when FEATURE is usable now, 1 when not.
    Check {
        /// Feature name.
        feature: String,
    },
    /// Records usage of a metered feature.
    Use {
        /// Feature name.
        feature: String,
        /// Units used.
        units: u64,
    },
    /// Activates online: makes a usage request, has the licensing service at --server answer
    /// it, and installs the usage license (the key itself is never sent).
    Activate {
        /// The licensing service, e.g. https://licensing.example.com.
        #[arg(long, env = "TOLLGATE_SERVER")]
        server: String,
        /// The license key. Prefer `--key-file` or the TOLLGATE_LICENSE_KEY variable.
        #[arg(long, env = "TOLLGATE_LICENSE_KEY", hide_env_values = true)]
        key: Option<String>,
        /// A file holding the license key.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Trust only this CA certificate (PEM) for the service's TLS certificate.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
    /// Reactivates online: this activation gets the license's current features and a new
    /// refresh deadline from the licensing service, without the key.
    Reactivate {
        /// The licensing service.
        #[arg(long, env = "TOLLGATE_SERVER")]
        server: String,
        /// Trust only this CA certificate (PEM) for the service's TLS certificate.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
    /// Marketplace start (a cloud marketplace instance licenses itself, no key): reads the
    /// cloud's signed instance identity from its metadata service and has the licensing
    /// service at --server activate this instance, or refresh its activation when one is
    /// installed (a copied state is replaced by this instance's own activation).
    Marketplace {
        /// The cloud: `aws` (instance identity document + signature, IMDSv2) or `azure`
        /// (attested data).
        #[arg(long, value_parser = ["aws", "azure"])]
        cloud: String,
        /// The licensing service.
        #[arg(long, env = "TOLLGATE_SERVER")]
        server: String,
        /// The metadata service (default http://169.254.169.254).
        #[arg(long)]
        metadata_url: Option<String>,
        /// Trust only this CA certificate (PEM) for the service's TLS certificate.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
    /// Deactivates: removes the license and prints the deactivation code (`TGDC:…`) for the
    /// vendor, or with --server delivers it to the licensing service, which frees the seat.
    Deactivate {
        /// The licensing service to deliver the code to.
        #[arg(long)]
        server: Option<String>,
        /// Trust only this CA certificate (PEM) for the service's TLS certificate.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
    /// Shows the fingerprint components (digests only) and how they match the license.
    Fingerprint,
    /// Applies a root-signed key list (`TGKL:…`) from the vendor that retires signing keys;
    /// this host keeps the highest sequence it has seen and refuses older ones.
    KeyList {
        /// The key list: a file, `-` for standard input, or the text itself.
        key_list: Option<String>,
    },
    /// Serves the License page (a wizard and the status page) for this host on loopback:
    /// online, offline and floating activation, reactivation, upgrade and deactivation.
    Ui(crate::ui::UiArgs),
    /// Verifies a usage license without touching any state.
    Verify {
        /// The usage license: a file, `-` for standard input, or the text itself.
        usage_license: Option<String>,
    },
}

fn load_config(path: &Path) -> Result<HostConfig, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::io(&format!("cannot read {}", path.display()), &e))?;
    // The root is compiled in (TOLLGATE_VENDOR_ROOT when this binary was built), never read
    // from the file.
    let root = tollgate_sdk::build_vendor_root()?;
    HostConfig::from_json(&text, root).map_err(|e| {
        let mut f = Failure::from(e);
        f.message = format!("{}: {}", path.display(), f.message);
        f
    })
}

fn component_kind(name: &str) -> Result<ComponentKind, Failure> {
    ComponentKind::ALL
        .into_iter()
        .find(|k| k.name() == name)
        .ok_or_else(|| Failure::usage(format!("`{name}` is not a fingerprint component kind")))
}

impl From<SdkError> for Failure {
    fn from(e: SdkError) -> Self {
        let exit = match &e {
            SdkError::Core(_) | SdkError::WrongModel { .. } => 3,
            SdkError::UntrustedConfig { .. }
            | SdkError::NoVendorRoot
            | SdkError::ComponentOverride { .. } => 2,
            SdkError::Storage { .. } => 6,
            SdkError::ServiceRefused { .. } => 5,
            SdkError::ServiceUnreachable { .. }
            | SdkError::MetadataUnreachable { .. }
            | SdkError::ServiceUnavailable { .. }
            | SdkError::RateLimited { .. }
            | SdkError::BadResponse { .. } => 6,
            _ => 4,
        };
        Failure {
            exit,
            code: e.result_code(),
            kind: e.result_name().into(),
            message: e.to_string(),
        }
    }
}

/// The settings of a client of the licensing service at `server`, trusting only `ca_cert`
/// when given.
fn online_config(
    server: &str,
    ca_cert: Option<&Path>,
) -> Result<tollgate_sdk::online::OnlineConfig, Failure> {
    let mut cfg = tollgate_sdk::online::OnlineConfig::new(server);
    if let Some(p) = ca_cert {
        cfg.root_certs_pem = Some(
            std::fs::read(p)
                .map_err(|e| Failure::io(&format!("cannot read {}", p.display()), &e))?,
        );
    }
    Ok(cfg)
}

/// A client of the licensing service at `server`, trusting only `ca_cert` when given.
fn online_client(
    server: &str,
    ca_cert: Option<&Path>,
) -> Result<tollgate_sdk::online::OnlineClient, Failure> {
    Ok(tollgate_sdk::online::OnlineClient::new(online_config(
        server, ca_cert,
    )?)?)
}

/// The status page as text.
pub fn status_text(s: &Status) -> String {
    let mut t = format!(
        "License status for {} {}: {}\n",
        s.product,
        s.product_version,
        s.state.name().to_uppercase()
    );
    if let Some(l) = &s.license {
        t.push_str(&format!(
            "  license {} (revision {}) for {}, activation {}, {} deployment\n",
            l.license_id, l.revision, l.customer, l.activation_id, l.deployment_model
        ));
        for f in &l.features {
            let mark = if f.active { "[x]" } else { "[ ]" };
            let detail = match (f.kind, &f.expires_at, f.quota) {
                ("subscription", Some(e), _) => format!("subscription until {e}"),
                ("metered", _, Some(q)) => format!(
                    "metered: {} of {q} used this {}",
                    f.used.unwrap_or(0),
                    f.period.unwrap_or("period")
                ),
                (k, _, _) => k.to_string(),
            };
            t.push_str(&format!("  {mark} {:<22} {detail}\n", f.name));
        }
        t.push_str(&format!(
            "  fingerprint: {} of {} components match ({} required)\n",
            l.fingerprint.matched, l.fingerprint.licensed, l.fingerprint.required
        ));
        if let Some(u) = &l.valid_until {
            t.push_str(&format!("  valid until {u}\n"));
        }
    }
    if s.pending_request {
        t.push_str("  a usage request is waiting for its usage license\n");
    }
    for w in &s.warnings {
        t.push_str(&format!("  warning: {w}\n"));
    }
    if let Some(e) = &s.error {
        t.push_str(&format!("  error {}: {}\n", e.code, e.message));
    }
    t.trim_end().to_string()
}

/// Runs a host verb. Returns the process exit code for `check`. With `fixed_clock` (the hidden
/// `--now` / `TOLLGATE_NOW`, for support and tests), the host's clock reads `now`; the time
/// floor applies to it exactly as to the system clock.
pub fn run(args: HostArgs, out: &Out, now: u64, fixed_clock: bool) -> Result<u8, Failure> {
    let mut config = load_config(&args.config)?;
    config.fingerprint.probes = !args.no_probes;
    config.fingerprint.allow_override = args.allow_override;
    for c in &args.components {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("`{c}`: use KIND=VALUE")))?;
        let kind = component_kind(k)?;
        config.fingerprint.replace.push(kind);
        config.fingerprint.extra.push((kind, v.as_bytes().to_vec()));
    }
    if let HostCmd::Verify { usage_license } = &args.cmd {
        let text = artifact(usage_license.as_deref())?;
        // The host's verdict (root of trust, product, time, fingerprint, deployment model) ...
        tollgate_sdk::verify_usage_license(&config, &text, now)?;
        // ... and the grant to show.
        let source = config
            .fingerprint
            .clone()
            .into_source(&config.fingerprint_salt);
        let fp = tollgate_sdk::fingerprint::compute(&*source, &config.fingerprint_salt)?;
        let ent = Verifier::with_trust_store(config.trust_store()?).verify(&text, &fp, now)?;
        let g = ent.grant();
        out.emit(
            json!({"valid": true, "license_id": g.license_id, "activation_id": ent.activation_id(),
                   "features": ent.active_features(now)}),
            || {
                format!(
                    "Valid usage license: license {} activation {} for {}; {}",
                    g.license_id,
                    ent.activation_id(),
                    g.customer,
                    features_line(&g.features)
                )
            },
        );
        return Ok(0);
    }
    let mut mgr = if fixed_clock {
        let clock = std::sync::Arc::new(tollgate_sdk::ManualClock::new(now));
        LicenseManager::open_with_clock(config, &args.state, clock)?
    } else {
        LicenseManager::open(config, &args.state)?
    };
    match args.cmd {
        HostCmd::Ui(ui) => return crate::ui::run(ui, mgr, out),
        HostCmd::Request { key, key_file } => {
            let key = match (key, key_file) {
                (Some(k), _) => k,
                (None, Some(p)) => std::fs::read_to_string(&p)
                    .map_err(|e| Failure::io(&format!("cannot read {}", p.display()), &e))?,
                (None, None) => return Err(Failure::usage("give --key or --key-file")),
            };
            let req = mgr.request_usage(&key)?;
            out.artifacts(
                json!({"usage_request": req}),
                || "Usage request (send it to the vendor; any newer request replaces it):".into(),
                &[&req],
            );
        }
        HostCmd::Renew => {
            let req = mgr.request_renewal()?;
            out.artifacts(
                json!({"usage_request": req}),
                || "Usage request for an update of this activation (send it to the vendor):".into(),
                &[&req],
            );
        }
        HostCmd::Install { usage_license } => {
            let text = artifact(usage_license.as_deref())?;
            let s = mgr.install(&text)?;
            out.emit(serde_json::to_value(&s).unwrap_or_default(), || {
                format!("Usage license installed.\n{}", status_text(&s))
            });
        }
        HostCmd::Status => {
            let s = mgr.status();
            out.emit(serde_json::to_value(&s).unwrap_or_default(), || {
                status_text(&s)
            });
        }
        HostCmd::Check { feature } => {
            let ok = mgr.has_feature(&feature);
            let state = mgr.status().state;
            out.emit(
                json!({"feature": feature, "usable": ok, "state": state.name()}),
                || {
                    if ok {
                        format!("{feature}: usable")
                    } else if state == LicenseState::Active {
                        format!("{feature}: NOT usable (missing or expired)")
                    } else {
                        format!("{feature}: NOT usable (license {})", state.name())
                    }
                },
            );
            return Ok(u8::from(!ok));
        }
        HostCmd::Use { feature, units } => {
            let r = mgr.record_usage(&feature, units)?;
            out.emit(serde_json::to_value(&r).unwrap_or_default(), || {
                format!(
                    "{}: {} of {} used this {}",
                    r.feature, r.used, r.quota, r.period
                )
            });
        }
        HostCmd::Activate {
            server,
            key,
            key_file,
            ca_cert,
        } => {
            let key = match (key, key_file) {
                (Some(k), _) => k,
                (None, Some(p)) => std::fs::read_to_string(&p)
                    .map_err(|e| Failure::io(&format!("cannot read {}", p.display()), &e))?,
                (None, None) => return Err(Failure::usage("give --key or --key-file")),
            };
            let s = online_client(&server, ca_cert.as_deref())?.activate(&mut mgr, &key)?;
            out.emit(serde_json::to_value(&s).unwrap_or_default(), || {
                format!("Activated online.\n{}", status_text(&s))
            });
        }
        HostCmd::Marketplace {
            cloud,
            server,
            metadata_url,
            ca_cert,
        } => {
            use tollgate_sdk::marketplace::{Cloud, MarketplaceClient, MarketplaceConfig};
            let cloud = Cloud::from_name(&cloud)
                .ok_or_else(|| Failure::usage(format!("`{cloud}` is not aws or azure")))?;
            let mut market = MarketplaceConfig::new(cloud);
            if let Some(url) = metadata_url {
                market.metadata_url = url;
            }
            let client =
                MarketplaceClient::new(market, online_config(&server, ca_cert.as_deref())?)?;
            let s = client.start(&mut mgr)?;
            out.emit(serde_json::to_value(&s).unwrap_or_default(), || {
                format!(
                    "Licensed as a {} marketplace instance.\n{}",
                    cloud.name(),
                    status_text(&s)
                )
            });
        }
        HostCmd::Reactivate { server, ca_cert } => {
            let s = online_client(&server, ca_cert.as_deref())?.reactivate(&mut mgr)?;
            out.emit(serde_json::to_value(&s).unwrap_or_default(), || {
                format!("Reactivated online.\n{}", status_text(&s))
            });
        }
        HostCmd::Deactivate {
            server: Some(server),
            ca_cert,
        } => {
            let client = online_client(&server, ca_cert.as_deref())?;
            let code = mgr.deactivate()?;
            let d = client.send_deactivation(&code).map_err(|e| {
                let mut f = Failure::from(e);
                f.message = format!(
                    "{}; the license was removed from this host: deliver its deactivation code \
                     later (again with --server, or to the vendor):\n{code}",
                    f.message
                );
                f
            })?;
            out.emit(
                json!({"deactivation_code": d.code, "delivered": true, "already_freed": d.already_freed}),
                || "License removed from this host; the licensing service freed its seat.".into(),
            );
        }
        HostCmd::Deactivate { server: None, .. } => {
            let code = mgr.deactivate()?;
            out.artifacts(
                json!({"deactivation_code": code}),
                || {
                    "License removed from this host. Send this deactivation code to the vendor \
                     to free the seat:"
                        .into()
                },
                &[&code],
            );
        }
        HostCmd::Fingerprint => {
            let r = mgr.fingerprint_report()?;
            out.emit(serde_json::to_value(&r).unwrap_or_default(), || {
                let mut t = String::from(
                    "Fingerprint components (salted digests; raw values never leave this host):\n",
                );
                for c in &r.components {
                    let m = match c.licensed {
                        Some(true) => "matches license",
                        Some(false) => "not in license",
                        None => "",
                    };
                    t.push_str(&format!("  {:<17} {}  {m}\n", c.kind, c.digest));
                }
                for c in &r.missing {
                    t.push_str(&format!(
                        "  {:<17} {}  licensed, not found here\n",
                        c.kind, c.digest
                    ));
                }
                if let Some(o) = r.outcome {
                    t.push_str(&format!(
                        "  {} of {} licensed components match, {} required: {}\n",
                        o.matched,
                        o.licensed,
                        o.required,
                        if o.ok { "OK" } else { "MISMATCH" }
                    ));
                }
                t.trim_end().to_string()
            });
        }
        HostCmd::KeyList { key_list } => {
            let text = artifact(key_list.as_deref())?;
            let sequence = mgr.apply_key_list(&text)?;
            let s = mgr.status();
            out.emit(
                json!({"key_list_sequence": sequence, "state": s.state.name()}),
                || format!("Key list {sequence} applied.\n{}", status_text(&s)),
            );
        }
        HostCmd::Verify { .. } => {}
    }
    Ok(0)
}
