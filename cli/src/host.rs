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
    /// Makes a usage request for a license key; prints it (`TGRQ:…`) for the vendor. When
    /// this host has metered usage to report, the usage journal is written beside it
    /// (--journal, default ./usage-journal.txt): send both to the vendor.
    Request {
        /// The license key. Prefer `--key-file` or the TOLLGATE_LICENSE_KEY variable: a key on
        /// the command line is visible to other local users.
        #[arg(long, env = "TOLLGATE_LICENSE_KEY", hide_env_values = true)]
        key: Option<String>,
        /// A file holding the license key.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// Where to write the metered-usage journal when this host has usage to report (it
        /// goes to the vendor with this output; `tollgate host usage journal` shows it again).
        #[arg(long, default_value = "usage-journal.txt")]
        journal: PathBuf,
    },
    /// Makes a new usage request for this host's activation without the key (the offline
    /// upgrade round trip). Writes the usage journal beside it as `request` does.
    Renew {
        /// Where to write the metered-usage journal when this host has usage to report (it
        /// goes to the vendor with this output; `tollgate host usage journal` shows it again).
        #[arg(long, default_value = "usage-journal.txt")]
        journal: PathBuf,
    },
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
    /// The metered usage accrued so far is cut first; when there is usage to report, the
    /// usage journal is written beside the code (--journal), or with --server reported to
    /// the service too.
    Deactivate {
        /// The licensing service to deliver the code to.
        #[arg(long)]
        server: Option<String>,
        /// Trust only this CA certificate (PEM) for the service's TLS certificate.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
        /// Where to write the metered-usage journal when this host has usage to report (it
        /// goes to the vendor with this output; `tollgate host usage journal` shows it again).
        #[arg(long, default_value = "usage-journal.txt")]
        journal: PathBuf,
    },
    /// The metered-usage journal: signed, hash-chained usage reports (`TGUR:…`) for the
    /// vendor to bill.
    #[command(subcommand)]
    Usage(UsageCmd),
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

/// `tollgate host usage …`.
#[derive(Subcommand, Debug)]
enum UsageCmd {
    /// Cuts the usage accrued so far into a report and prints the journal (a comment line,
    /// then one `TGUR:…` report a line) for the operator to carry to the vendor, who imports
    /// it with `tollgate vendor usage import FILE`.
    Journal {
        /// Write the journal to this file instead of standard output.
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Shows the units accrued and not yet reported, and the reports waiting for the vendor's
    /// acknowledgement.
    Show,
    /// Drops the reports the vendor merged: those of the device key with a sequence number up
    /// to --through (the vendor's import says it).
    Ack {
        /// The highest sequence number the vendor merged.
        #[arg(long)]
        through: u64,
        /// The device key (hex) of the chain; default: this host's current one.
        #[arg(long)]
        device_key: Option<String>,
    },
    /// Reports the usage to the licensing service at --server (online hosts; also done on
    /// every reactivation) and drops what it merged.
    Report {
        /// The licensing service.
        #[arg(long)]
        server: String,
        /// Trust only this CA certificate (PEM) for the service's TLS certificate.
        #[arg(long)]
        ca_cert: Option<PathBuf>,
    },
}

/// Writes the usage journal to `path` when the host has usage to report; returns what to add
/// to the JSON output and the line to tell the operator.
fn write_journal(
    mgr: &mut LicenseManager,
    path: &Path,
) -> Result<Option<(serde_json::Value, String)>, Failure> {
    if !mgr.has_usage_to_report() {
        return Ok(None);
    }
    let text = mgr.usage_journal()?;
    let reports = mgr.usage_outbox().len();
    std::fs::write(path, &text)
        .map_err(|e| Failure::io(&format!("cannot write {}", path.display()), &e))?;
    Ok(Some((
        json!({"path": path.display().to_string(), "reports": reports}),
        format!(
            "Usage journal ({reports} report{}) written to {}: send it to the vendor too.",
            if reports == 1 { "" } else { "s" },
            path.display()
        ),
    )))
}

/// `value` with `"usage_journal": …` added when a journal was written.
fn with_journal(
    mut value: serde_json::Value,
    journal: &Option<(serde_json::Value, String)>,
) -> serde_json::Value {
    if let (Some((j, _)), Some(obj)) = (journal, value.as_object_mut()) {
        obj.insert("usage_journal".into(), j.clone());
    }
    value
}

/// The explanation `text`, followed by the journal line when one was written.
fn journal_note(text: &str, journal: &Option<(serde_json::Value, String)>) -> String {
    match journal {
        Some((_, line)) => format!("{line}\n{text}"),
        None => text.to_owned(),
    }
}

fn run_usage(cmd: UsageCmd, mgr: &mut LicenseManager, out: &Out) -> Result<(), Failure> {
    match cmd {
        UsageCmd::Journal { out: None } => {
            let text = mgr.usage_journal()?;
            if out.json {
                out.emit(
                    json!({"usage_journal": text, "reports": mgr.usage_outbox().len()}),
                    String::new,
                );
            } else {
                print!("{text}");
            }
        }
        UsageCmd::Journal { out: Some(path) } => {
            let text = mgr.usage_journal()?;
            let reports = mgr.usage_outbox().len();
            std::fs::write(&path, &text)
                .map_err(|e| Failure::io(&format!("cannot write {}", path.display()), &e))?;
            out.emit(
                json!({"path": path.display().to_string(), "reports": reports}),
                || {
                    format!(
                        "Usage journal ({reports} reports) written to {}.",
                        path.display()
                    )
                },
            );
        }
        UsageCmd::Show => {
            let accrued = mgr.accrued_usage();
            let outbox = mgr.usage_outbox();
            let value = json!({
                "accrued": accrued.iter().map(|a| json!({
                    "license_id": a.license_id, "feature": a.feature, "period": a.period.name(),
                    "period_start": a.period_start, "units": a.units})).collect::<Vec<_>>(),
                "outbox": outbox.iter().map(|r| {
                    let c = r.claims();
                    json!({"device_key": tollgate_core::hex_string(&c.device_key), "seq": c.seq,
                           "license_id": c.license_id, "created_at": c.created_at,
                           "units": c.total_units()})
                }).collect::<Vec<_>>(),
            });
            out.emit(value, || {
                let mut t = String::from("Accrued, not yet reported:\n");
                if accrued.is_empty() {
                    t.push_str("  (nothing)\n");
                }
                for a in &accrued {
                    t.push_str(&format!(
                        "  license {} {} {} from {}: {} units\n",
                        a.license_id,
                        a.feature,
                        a.period.name(),
                        tollgate_sdk::time::format_utc(a.period_start),
                        a.units
                    ));
                }
                t.push_str("Reports waiting for the vendor's acknowledgement:\n");
                if outbox.is_empty() {
                    t.push_str("  (none)\n");
                }
                for r in &outbox {
                    let c = r.claims();
                    t.push_str(&format!(
                        "  device {} report {}: license {}, {} units\n",
                        &tollgate_core::hex_string(&c.device_key)[..16],
                        c.seq,
                        c.license_id,
                        c.total_units()
                    ));
                }
                t.trim_end().to_owned()
            });
        }
        UsageCmd::Ack {
            through,
            device_key,
        } => {
            let key = match device_key {
                Some(hex) => {
                    let hex = hex.trim();
                    let bytes: Option<Vec<u8>> = (0..32)
                        .map(|i| {
                            hex.get(2 * i..2 * i + 2)
                                .and_then(|h| u8::from_str_radix(h, 16).ok())
                        })
                        .collect();
                    bytes
                        .filter(|_| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
                        .and_then(|b| <[u8; 32]>::try_from(b).ok())
                        .ok_or_else(|| Failure::usage("--device-key is 64 hex digits"))?
                }
                None => mgr
                    .installed_license()
                    .map(|l| l.terms().device_key)
                    .or_else(|| mgr.usage_outbox().last().map(|r| r.claims().device_key))
                    .ok_or_else(|| {
                        Failure::usage("no usage reports on this host: give --device-key")
                    })?,
            };
            let dropped = mgr.acknowledge_usage(&key, through)?;
            out.emit(
                json!({"device_key": tollgate_core::hex_string(&key), "through": through, "dropped": dropped}),
                || format!("{dropped} acknowledged report(s) dropped."),
            );
        }
        UsageCmd::Report { server, ca_cert } => {
            let sync = online_client(&server, ca_cert.as_deref())?.report_usage(mgr)?;
            let flagged: Vec<_> = sync
                .flagged
                .iter()
                .map(|f| json!({"device_key": tollgate_core::hex_string(&f.device_key), "seq": f.seq, "verdict": f.verdict.name()}))
                .collect();
            out.emit(
                json!({"sent": sync.sent, "acknowledged": sync.acknowledged, "dismissed": sync.dismissed, "flagged": flagged}),
                || {
                    let mut t = format!(
                        "{} report(s) sent, {} merged by the service.",
                        sync.sent, sync.acknowledged
                    );
                    if sync.dismissed > 0 {
                        t.push_str(&format!(
                            "\n{} report(s) dismissed by the vendor dropped: never billed.",
                            sync.dismissed
                        ));
                    }
                    for f in &sync.flagged {
                        t.push_str(&format!(
                            "\nReport {} was flagged by the service ({}): it stays on this host until the vendor resolves it.",
                            f.seq,
                            f.verdict.name()
                        ));
                    }
                    t
                },
            );
        }
    }
    Ok(())
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
        HostCmd::Request {
            key,
            key_file,
            journal,
        } => {
            let key = match (key, key_file) {
                (Some(k), _) => k,
                (None, Some(p)) => std::fs::read_to_string(&p)
                    .map_err(|e| Failure::io(&format!("cannot read {}", p.display()), &e))?,
                (None, None) => return Err(Failure::usage("give --key or --key-file")),
            };
            let req = mgr.request_usage(&key)?;
            let journal = write_journal(&mut mgr, &journal)?;
            out.artifacts(
                with_journal(json!({"usage_request": req}), &journal),
                || {
                    journal_note(
                        "Usage request (send it to the vendor; any newer request replaces it):",
                        &journal,
                    )
                },
                &[&req],
            );
        }
        HostCmd::Renew { journal } => {
            let req = mgr.request_renewal()?;
            let journal = write_journal(&mut mgr, &journal)?;
            out.artifacts(
                with_journal(json!({"usage_request": req}), &journal),
                || {
                    journal_note(
                        "Usage request for an update of this activation (send it to the vendor):",
                        &journal,
                    )
                },
                &[&req],
            );
        }
        HostCmd::Usage(cmd) => run_usage(cmd, &mut mgr, out)?,
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
            journal,
        } => {
            let client = online_client(&server, ca_cert.as_deref())?;
            let code = mgr.deactivate()?;
            // The usage cut by the deactivation: reported to the service (best effort), and
            // whatever it did not merge written beside, for the vendor.
            let _ = client.report_usage(&mut mgr);
            let journal = write_journal(&mut mgr, &journal)?;
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
                with_journal(
                    json!({"deactivation_code": d.code, "delivered": true, "already_freed": d.already_freed}),
                    &journal,
                ),
                || {
                    journal_note(
                        "License removed from this host; the licensing service freed its seat.",
                        &journal,
                    )
                },
            );
        }
        HostCmd::Deactivate {
            server: None,
            journal,
            ..
        } => {
            let code = mgr.deactivate()?;
            let journal = write_journal(&mut mgr, &journal)?;
            out.artifacts(
                with_journal(json!({"deactivation_code": code}), &journal),
                || {
                    journal_note(
                        "License removed from this host. Send this deactivation code to the \
                         vendor to free the seat:",
                        &journal,
                    )
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
