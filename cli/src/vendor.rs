//! `tollgate vendor …`: the issuing authority's verbs, over `tollgate-authority`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tollgate_authority::verdict_name;
use tollgate_authority::{
    export_root, Activation, AuditEntry, Authority, AuthorityError, Extension, IssueSpec,
    KeyStatus, LicenseRecord, LicenseStatus, MeterEventStatus, NewExpiry, RootFormat,
    SigningKeyInfo, TransferPolicy, UpgradeSpec, UsageFilter, UsageFlag, UsageResolution,
};
use tollgate_core::{DeploymentModel, Feature, FeatureKind, MeterPeriod, Models};
use tollgate_sdk::time::format_utc;

use crate::exit::Failure;
use crate::input::{artifact, parse_time};
use crate::output::Out;

/// Vendor verbs.
#[derive(Args, Debug)]
pub struct VendorArgs {
    /// The vendor state directory (ledger and signing keys).
    #[arg(long, env = "TOLLGATE_VENDOR_DIR", default_value = "tollgate-vendor")]
    dir: PathBuf,
    /// Who is acting, for the audit log.
    #[arg(long, env = "TOLLGATE_ACTOR", default_value = "cli")]
    actor: String,
    #[command(subcommand)]
    cmd: VendorCmd,
}

#[derive(Subcommand, Debug)]
enum VendorCmd {
    /// Creates the ledger, the vendor root key (`keys/root.key`) and the first signing key
    /// (does nothing for what exists).
    Init {
        /// Import the root key from this file (its 32-byte seed) instead of creating a random
        /// one. `tests/fixtures/dev-root.seed` is the PUBLISHED development root: for
        /// development and tests only.
        #[arg(long, value_name = "FILE")]
        import_root: Option<PathBuf>,
    },
    /// Prints the root PUBLIC key as source to compile into the product (`hex`, `rust`, `c`
    /// header, `java` class).
    ExportRoot {
        /// Output format.
        #[arg(long, default_value = "hex", value_parser = ["hex", "rust", "c", "java"])]
        format: String,
        /// Java package of the `VendorRoot` class (none: the default package).
        #[arg(long)]
        package: Option<String>,
        /// Output file (standard output if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Suspends a license: no activation, refresh or fulfilment until resumed.
    Suspend(StatusArgs),
    /// Resumes a suspended license.
    Resume(StatusArgs),
    /// Revokes a license for good.
    Revoke(StatusArgs),
    /// Signing keys: create, rotate, list.
    #[command(subcommand)]
    Key(KeyCmd),
    /// Writes the host configuration (options only: product id, version, fingerprint salt)
    /// with the current root-signed key certificates and key list. It carries no key a host
    /// would trust: the root public key is compiled in (`vendor export-root`).
    HostConfig {
        /// Product id.
        #[arg(long)]
        product: String,
        /// Product version the hosts run.
        #[arg(long, default_value = "1.0.0")]
        product_version: String,
        /// Fingerprint salt (defaults to the product id).
        #[arg(long)]
        salt: Option<String>,
        /// Output file (standard output if absent).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Issues a license: prints the license key (shown once) and the signed license.
    Issue(IssueArgs),
    /// Answers a usage request (`TGRQ:…`) with a usage license (`TGUL:…`).
    Fulfil {
        /// The request: a file, `-` for standard input, or the text itself.
        request: Option<String>,
        /// The deployment model to grant.
        #[arg(long, default_value = "offline")]
        model: String,
    },
    /// Checks a deactivation code (`TGDC:…`) and frees its seat.
    Deactivate {
        /// The code: a file, `-` for standard input, or the text itself.
        code: Option<String>,
    },
    /// Frees the seat of an activation lost without deactivation ("forgot to deactivate").
    Restore {
        /// License id.
        #[arg(long)]
        license: u64,
        /// Activation id.
        #[arg(long)]
        activation: u64,
        /// Why (kept in the audit log).
        #[arg(long)]
        reason: String,
    },
    /// Upgrades a license: adds features, extends subscriptions, changes seats.
    Upgrade(UpgradeArgs),
    /// Lists licenses.
    List,
    /// Shows one license with its activations.
    Show {
        /// License id.
        license: u64,
    },
    /// Lists the activations of a license.
    Activations {
        /// License id.
        license: u64,
    },
    /// Frees the seats of gone cloud marketplace instances (their refresh deadline passed),
    /// as the online service's periodic sweep does; prints the activations freed.
    MarketplaceSweep,
    /// Metered usage: totals per license, feature and period, the flagged reports (gaps,
    /// forks, rewritten histories, entries of features that are not metered) and the meter
    /// events per status; `usage import FILE` imports an offline host's usage journal,
    /// `usage resolve` resolves a flag.
    Usage(UsageArgs),
    /// Shows the audit log, newest first.
    Audit {
        /// Only this license.
        #[arg(long)]
        license: Option<u64>,
        /// At most this many entries.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true)]
struct UsageArgs {
    #[command(subcommand)]
    cmd: Option<UsageCmd>,
    /// Only this license.
    #[arg(long)]
    license: Option<u64>,
    /// Only this calendar period: `YYYY-MM` or `YYYY` (UTC).
    #[arg(long)]
    period: Option<String>,
}

#[derive(Subcommand, Debug)]
enum UsageCmd {
    /// Imports an offline host's usage journal (TGUR reports, one a line) into the ledger and
    /// prints each report's verdict; exits with 5 if any report was flagged (not merged).
    Import {
        /// The journal: a file, or `-` for standard input.
        file: String,
    },
    /// Resolves the open flags at one seq of a device key's chain (audited): `--dismiss`
    /// closes them without billing; `--accept` judges the flagged report again and merges it
    /// only if it extends the merged chain or lies ahead of it (a gap whose missing reports
    /// are lost; a fork or a rewritten history is refused with 359). No open flag there: 358.
    #[command(group(clap::ArgGroup::new("how").required(true).args(["accept", "dismiss"])))]
    Resolve {
        /// The license.
        #[arg(long)]
        license: u64,
        /// The device key (64 hex digits).
        #[arg(long)]
        device: String,
        /// The flagged report's sequence number.
        #[arg(long)]
        seq: u64,
        /// Merge the flagged report (it must extend the merged chain or lie ahead of it).
        #[arg(long)]
        accept: bool,
        /// Close the flags without billing.
        #[arg(long)]
        dismiss: bool,
    },
}

#[derive(Subcommand, Debug)]
enum KeyCmd {
    /// Creates a signing key (the first one becomes active).
    Create,
    /// Creates a new active key, certified by the root, and retires the current one (which
    /// stays trusted for what it signed).
    Rotate,
    /// Retires a signing key for good (e.g. compromised): a new root-signed key list (TGKL)
    /// with the next sequence number, which hosts apply. Not the active key: rotate first.
    Retire {
        /// The key id (16 hex digits).
        key_id: String,
    },
    /// Lists keys with their public halves.
    List,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// License id.
    license: u64,
    /// Why (kept in the audit log).
    #[arg(long, default_value = "no reason given")]
    reason: String,
}

#[derive(Args, Debug)]
struct IssueArgs {
    /// Product id.
    #[arg(long)]
    product: String,
    /// Customer reference.
    #[arg(long)]
    customer: String,
    /// A feature: `NAME` (perpetual), `NAME:until=DATE`, `NAME:for=1y` / `for=30d`
    /// (subscription), `NAME:QUOTA/day|month|year` (metered). Repeatable.
    #[arg(long = "feature", required = true)]
    features: Vec<String>,
    /// Allowed deployment models, comma-separated.
    #[arg(long, default_value = "online,offline")]
    models: String,
    /// Maximum simultaneous activations.
    #[arg(long, default_value_t = 1)]
    activations: u32,
    /// Concurrent floating seats.
    #[arg(long, default_value_t = 0)]
    floating_seats: u32,
    /// The longest a floating server may lend a feature set to a client that borrows it, in
    /// seconds (0: no borrowing).
    #[arg(long, default_value_t = 0)]
    max_borrow_secs: u32,
    /// Fingerprint components that must match (k of n).
    #[arg(long, default_value_t = tollgate_authority::DEFAULT_FINGERPRINT_THRESHOLD)]
    threshold: u8,
    /// Start of validity (YYYY-MM-DD or Unix seconds).
    #[arg(long)]
    not_before: Option<String>,
    /// End of validity (YYYY-MM-DD or Unix seconds).
    #[arg(long)]
    not_after: Option<String>,
    /// Also write the license key to this file (mode 0600).
    #[arg(long)]
    key_out: Option<PathBuf>,
    /// Offline refresh period in days (signed in the grant; 0: none): offline and floating
    /// usage licenses must be renewed by a round trip within this period, so a restored copy
    /// of a deactivated host stops working after it. Recommended for offline licenses
    /// (e.g. 365); the default, 0, keeps offline usage licenses without a deadline.
    #[arg(long, default_value_t = 0)]
    offline_refresh_days: u32,
    /// How far a host's clock may go back, in seconds, before it reports a rollback (signed
    /// in the grant).
    #[arg(long, default_value_t = tollgate_core::Grant::DEFAULT_ROLLBACK_TOLERANCE_SECS)]
    rollback_tolerance_secs: u32,
    /// Transfers (deactivations and restores) allowed per period; 0: none.
    #[arg(long, default_value_t = 4, conflicts_with = "unlimited_transfers")]
    max_transfers: u32,
    /// No transfer limit.
    #[arg(long)]
    unlimited_transfers: bool,
    /// The transfer period, in days.
    #[arg(long, default_value_t = 365)]
    transfer_period_days: u32,
}

#[derive(Args, Debug)]
struct UpgradeArgs {
    /// License id.
    #[arg(long)]
    license: u64,
    /// A feature to add (same syntax as `issue --feature`). Repeatable.
    #[arg(long = "add-feature")]
    add: Vec<String>,
    /// Extends a subscription: `NAME:until=DATE` or `NAME:for=1y`. Repeatable.
    #[arg(long = "extend")]
    extend: Vec<String>,
    /// New maximum of simultaneous activations.
    #[arg(long)]
    activations: Option<u32>,
    /// New offline refresh period in days (0: none).
    #[arg(long)]
    offline_refresh_days: Option<u32>,
    /// New rollback tolerance in seconds.
    #[arg(long)]
    rollback_tolerance_secs: Option<u32>,
}

/// Days to seconds for a grant field.
fn days_secs(days: u32) -> Result<u32, Failure> {
    days.checked_mul(86_400)
        .ok_or_else(|| Failure::usage(format!("{days} days is too long")))
}

impl From<AuthorityError> for Failure {
    fn from(e: AuthorityError) -> Self {
        Failure {
            exit: if matches!(e, AuthorityError::Core(_)) {
                3
            } else {
                5
            },
            code: e.code(),
            kind: crate::exit::variant_name(&e),
            message: e.to_string(),
        }
    }
}

/// Parses a duration like `1y`, `30d`, `12h`.
fn parse_duration(s: &str) -> Result<u64, Failure> {
    let bad = || Failure::usage(format!("`{s}` is not a duration like 1y, 30d or 12h"));
    let (num, unit) = s.split_at(s.len().saturating_sub(1));
    let n: u64 = num.parse().map_err(|_| bad())?;
    let mult = match unit {
        "y" => 365 * 86_400,
        "d" => 86_400,
        "h" => 3_600,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).ok_or_else(bad)
}

/// Parses a `--feature` value.
fn parse_feature(s: &str, now: u64) -> Result<Feature, Failure> {
    let (name, spec) = s.split_once(':').unwrap_or((s, "perpetual"));
    let kind = if spec == "perpetual" {
        FeatureKind::Perpetual
    } else if let Some(date) = spec.strip_prefix("until=") {
        FeatureKind::Subscription {
            expires_at: parse_time(date)?,
        }
    } else if let Some(d) = spec.strip_prefix("for=") {
        FeatureKind::Subscription {
            expires_at: now.saturating_add(parse_duration(d)?),
        }
    } else if let Some((quota, period)) = spec.split_once('/') {
        FeatureKind::Metered {
            quota: quota
                .parse()
                .map_err(|_| Failure::usage(format!("`{quota}` is not a quota")))?,
            period: MeterPeriod::from_name(period)
                .ok_or_else(|| Failure::usage(format!("`{period}`: use day, month or year")))?,
        }
    } else {
        return Err(Failure::usage(format!(
            "feature `{s}`: use NAME, NAME:until=DATE, NAME:for=1y or NAME:QUOTA/month"
        )));
    };
    Ok(Feature {
        name: name.to_string(),
        kind,
    })
}

fn parse_extension(s: &str) -> Result<Extension, Failure> {
    let bad = || Failure::usage(format!("`{s}`: use NAME:until=DATE or NAME:for=1y"));
    let (name, spec) = s.split_once(':').ok_or_else(bad)?;
    let to = if let Some(date) = spec.strip_prefix("until=") {
        NewExpiry::At(parse_time(date)?)
    } else if let Some(d) = spec.strip_prefix("for=") {
        NewExpiry::By(parse_duration(d)?)
    } else {
        return Err(bad());
    };
    Ok(Extension {
        feature: name.to_string(),
        to,
    })
}

/// Parses a comma-separated list of deployment models.
pub fn parse_models(s: &str) -> Result<Models, Failure> {
    let mut list = Vec::new();
    for m in s.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        list.push(DeploymentModel::from_name(m).ok_or_else(|| {
            Failure::usage(format!("`{m}`: models are online, offline, floating"))
        })?);
    }
    Ok(Models::of(&list))
}

/// A feature as JSON, with its expiry in ISO form.
pub fn feature_json(f: &Feature) -> Value {
    match f.kind {
        FeatureKind::Perpetual => json!({"name": f.name, "kind": "perpetual"}),
        FeatureKind::Subscription { expires_at } => json!({"name": f.name,
            "kind": "subscription", "expires_at": expires_at, "expires": format_utc(expires_at)}),
        FeatureKind::Metered { quota, period } => json!({"name": f.name, "kind": "metered",
            "quota": quota, "period": period.name()}),
    }
}

fn license_json(r: &LicenseRecord) -> Value {
    let g = &r.grant;
    json!({
        "license_id": r.id,
        "status": r.status.name(),
        "offline_refresh_secs": g.offline_refresh_secs,
        "rollback_tolerance_secs": g.rollback_tolerance_secs,
        "max_transfers": r.transfers.max_transfers,
        "transfer_period_secs": r.transfers.period_secs,
        "rapid_transfers": r.rapid_transfers,
        "revision": g.revision,
        "product": g.product,
        "customer": g.customer,
        "features": g.features.iter().map(feature_json).collect::<Vec<_>>(),
        "models": g.models.iter().map(|m| m.name()).collect::<Vec<_>>(),
        "max_activations": g.max_activations,
        "floating_seats": g.floating_seats,
        "max_borrow_secs": g.max_borrow_secs,
        "active_activations": r.active_activations,
        "total_activations": r.total_activations,
        "not_before": g.not_before,
        "not_after": g.not_after,
        "fingerprint_threshold": g.fingerprint_threshold,
        "key_id": r.key_id.to_hex(),
        "created_at": format_utc(r.created_at),
        "revised_at": format_utc(r.revised_at),
        "license": r.armored,
    })
}

fn activation_json(a: &Activation) -> Value {
    json!({
        "activation_id": a.id,
        "license_id": a.license_id,
        "status": a.status.name(),
        "model": a.model.name(),
        "device_key": tollgate_core::hex_string(&a.device_key),
        "fingerprint_components": a.fingerprint.len(),
        "product_version": a.product_version,
        "last_counter": a.last_counter,
        "created_at": format_utc(a.created_at),
        "last_fulfilled_at": format_utc(a.last_fulfilled_at),
        "freed_at": a.freed_at.map(format_utc),
        "rapid_transfer_after": a.follows_activation,
    })
}

fn key_json(k: &SigningKeyInfo) -> Value {
    json!({
        "key_id": k.key_id.to_hex(),
        "public_key": k.public_key_hex(),
        "status": k.status.name(),
        "created_at": format_utc(k.created_at),
        "retired_at": k.retired_at.map(format_utc),
        "withdrawn_at": k.withdrawn_at.map(format_utc),
    })
}

fn audit_json(e: &AuditEntry) -> Value {
    json!({
        "id": e.id, "at": format_utc(e.at), "actor": e.actor, "action": e.action,
        "license_id": e.license_id, "activation_id": e.activation_id, "detail": e.detail,
    })
}

/// Runs a vendor verb.
pub fn run(args: VendorArgs, out: &Out, now: u64) -> Result<(), Failure> {
    let mut auth = Authority::open(&args.dir)?;
    auth.set_actor(args.actor.clone())?;
    match args.cmd {
        VendorCmd::Init { import_root } => {
            let root = match auth.root_public_key() {
                Ok(existing) => {
                    if let Some(path) = &import_root {
                        let seed = std::fs::read(path).map_err(|e| {
                            Failure::io(&format!("cannot read {}", path.display()), &e)
                        })?;
                        let seed = zeroize::Zeroizing::new(seed);
                        let wanted = <[u8; 32]>::try_from(seed.as_slice())
                            .ok()
                            .map(|s| tollgate_core::VendorSigningKey::from_seed(&s).public_key());
                        if wanted != Some(existing) {
                            return Err(AuthorityError::RootKeyExists.into());
                        }
                    }
                    (existing, false)
                }
                Err(AuthorityError::NoRootKey) => match &import_root {
                    Some(path) => (auth.import_root_key_file(path, now)?, true),
                    None => (auth.create_root_key(now)?, true),
                },
                Err(e) => return Err(e.into()),
            };
            let keys = auth.public_keys()?;
            let created = if keys.iter().all(|k| k.status != KeyStatus::Active) {
                Some(auth.create_signing_key(now)?)
            } else {
                None
            };
            let keys = auth.public_keys()?;
            let root_hex = tollgate_core::hex_string(&root.0);
            out.emit(
                json!({"dir": args.dir, "root_public_key": root_hex, "root_created": root.1,
                       "root_imported": root.1 && import_root.is_some(),
                       "created_key": created.as_ref().map(|k| k.key_id.to_hex()),
                       "keys": keys.iter().map(key_json).collect::<Vec<_>>()}),
                || {
                    let mut s = format!("Vendor directory {} ready.\n", args.dir.display());
                    match (root.1, import_root.is_some()) {
                        (true, true) => s.push_str("Root key imported"),
                        (true, false) => s.push_str("New root key created"),
                        (false, _) => s.push_str("Root key"),
                    }
                    s.push_str(&format!(
                        " (keys/root.key; compile its public half into the product: \
                         tollgate vendor export-root):\n  {root_hex}\n"
                    ));
                    match &created {
                        Some(k) => s.push_str(&format!("New signing key {} (active).", k.key_id)),
                        None => s.push_str("Signing key already set up."),
                    }
                    s
                },
            );
        }
        VendorCmd::ExportRoot {
            format,
            package,
            out: path,
        } => {
            let root = auth.root_public_key()?;
            let format = match format.as_str() {
                "hex" => RootFormat::Hex,
                "rust" => RootFormat::Rust,
                "c" => RootFormat::C,
                "java" => RootFormat::Java { package },
                other => {
                    return Err(Failure::usage(format!(
                        "`{other}`: use hex, rust, c or java"
                    )))
                }
            };
            let text = export_root(&root, &format).map_err(|e| Failure::usage(e.to_string()))?;
            let format = format.name();
            match path {
                Some(p) => {
                    std::fs::write(&p, &text)
                        .map_err(|e| Failure::io(&format!("cannot write {}", p.display()), &e))?;
                    out.emit(json!({"written": p, "format": format}), || {
                        format!("Root public key ({format}) written to {}", p.display())
                    });
                }
                None => print!("{text}"),
            }
        }
        VendorCmd::Suspend(s) | VendorCmd::Resume(s) | VendorCmd::Revoke(s)
            if s.reason.trim().is_empty() =>
        {
            return Err(Failure::usage("--reason must not be blank"));
        }
        VendorCmd::Suspend(s) => {
            auth.suspend(s.license, &s.reason, now)?;
            status_done(out, s.license, "suspended");
        }
        VendorCmd::Resume(s) => {
            auth.resume(s.license, &s.reason, now)?;
            status_done(out, s.license, "active");
        }
        VendorCmd::Revoke(s) => {
            auth.revoke(s.license, &s.reason, now)?;
            status_done(out, s.license, "revoked");
        }
        VendorCmd::Key(cmd) => {
            let info = match cmd {
                KeyCmd::Create => Some(auth.create_signing_key(now)?),
                KeyCmd::Rotate => Some(auth.rotate_signing_key(now)?),
                KeyCmd::List => None,
                KeyCmd::Retire { key_id } => {
                    let id = tollgate_core::KeyId(
                        parse_key_id(&key_id)
                            .ok_or_else(|| Failure::usage("a key id is 16 hex digits"))?,
                    );
                    let lists = auth.retire_key(id, now)?;
                    let armored: Vec<&str> = lists.iter().map(|(_, _, l)| l.as_str()).collect();
                    out.artifacts(
                        json!({"retired_key": id.to_hex(), "key_lists": lists.iter()
                            .map(|(p, s, l)| json!({"product": p, "sequence": s, "key_list": l}))
                            .collect::<Vec<_>>()}),
                        || {
                            let mut s = format!(
                                "Signing key {id} retired. New root-signed key list(s), one a \
                                 line on standard output; give them to hosts (host-config, the \
                                 online service does it):"
                            );
                            for (p, n, _) in &lists {
                                s.push_str(&format!("\n  {p} (sequence {n})"));
                            }
                            s
                        },
                        &armored,
                    );
                    return Ok(());
                }
            };
            let keys = auth.public_keys()?;
            out.emit(
                json!({"new_key": info.as_ref().map(key_json),
                       "keys": keys.iter().map(key_json).collect::<Vec<_>>()}),
                || {
                    let mut s = String::new();
                    if let Some(k) = &info {
                        s.push_str(&format!("New signing key {} is active.\n", k.key_id));
                    }
                    for k in &keys {
                        s.push_str(&format!(
                            "{}  {:<7}  {}  created {}\n",
                            k.key_id,
                            if k.withdrawn_at.is_some() {
                                "WITHDRAWN"
                            } else {
                                k.status.name()
                            },
                            k.public_key_hex(),
                            format_utc(k.created_at)
                        ));
                    }
                    s.trim_end().to_string()
                },
            );
        }
        VendorCmd::HostConfig {
            product,
            product_version,
            salt,
            out: path,
        } => {
            let certificates = auth.key_certificates(&product, now)?;
            let mut cfg = json!({
                "product": product,
                "product_version": product_version,
                "fingerprint_salt": salt.unwrap_or_else(|| product.clone()),
                "key_certificates": certificates,
            });
            if let Some(list) = auth.key_list(&product)? {
                cfg["key_list"] = Value::String(list);
            }
            let text = serde_json::to_string_pretty(&cfg).unwrap_or_default();
            match path {
                Some(p) => {
                    std::fs::write(&p, text + "\n")
                        .map_err(|e| Failure::io(&format!("cannot write {}", p.display()), &e))?;
                    out.emit(json!({"written": p}), || {
                        format!("Host configuration written to {}", p.display())
                    });
                }
                None => println!("{text}"),
            }
        }
        VendorCmd::Issue(a) => {
            let mut spec = IssueSpec::new(a.product, a.customer);
            spec.features = a
                .features
                .iter()
                .map(|f| parse_feature(f, now))
                .collect::<Result<_, _>>()?;
            spec.models = parse_models(&a.models)?;
            spec.max_activations = a.activations;
            spec.floating_seats = a.floating_seats;
            spec.max_borrow_secs = a.max_borrow_secs;
            spec.fingerprint_threshold = a.threshold;
            spec.not_before = a.not_before.as_deref().map(parse_time).transpose()?;
            spec.not_after = a.not_after.as_deref().map(parse_time).transpose()?;
            spec.offline_refresh_secs = days_secs(a.offline_refresh_days)?;
            spec.rollback_tolerance_secs = a.rollback_tolerance_secs;
            spec.transfers = TransferPolicy {
                max_transfers: (!a.unlimited_transfers).then_some(a.max_transfers),
                period_secs: u64::from(a.transfer_period_days) * 86_400,
            };
            let issued = auth.issue(spec, now)?;
            let key = issued.key.expose();
            if let Some(p) = &a.key_out {
                crate::output::write_secret(p, &key)?;
            }
            let g = issued.license.grant();
            out.artifacts(
                json!({"license_id": g.license_id, "key": key,
                       "license": issued.license.to_armor()}),
                || {
                    format!(
                        "Issued license {} for {} ({}), {} activation(s).\n\
                         Signed license: {}\n\
                         License key (shown once, send it to the customer; on standard output):",
                        g.license_id,
                        g.customer,
                        g.features
                            .iter()
                            .map(|f| f.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", "),
                        g.max_activations,
                        issued.license.to_armor()
                    )
                },
                &[&key],
            );
        }
        VendorCmd::Fulfil { request, model } => {
            let text = artifact(request.as_deref())?;
            let model = DeploymentModel::from_name(&model)
                .ok_or_else(|| Failure::usage("models are online, offline, floating"))?;
            let f = auth.fulfil(&text, model, now)?;
            out.artifacts(
                json!({"license_id": f.license_id, "activation_id": f.activation_id,
                       "new_activation": f.new_activation, "repeated": f.repeated,
                       "revision": f.revision, "usage_license": f.usage_license}),
                || {
                    let what = if f.repeated {
                        "the same answer as before"
                    } else if f.new_activation {
                        "a new seat"
                    } else {
                        "an update of an existing activation"
                    };
                    format!(
                        "Usage license for license {} activation {} ({what}, revision {}):",
                        f.license_id, f.activation_id, f.revision
                    )
                },
                &[&f.usage_license],
            );
        }
        VendorCmd::Deactivate { code } => {
            let text = artifact(code.as_deref())?;
            let f = auth.deactivate(&text, now)?;
            out.emit(
                json!({"license_id": f.license_id, "activation_id": f.activation_id, "freed": true}),
                || {
                    format!(
                        "Deactivation verified: license {} activation {} released; its seat is free.",
                        f.license_id, f.activation_id
                    )
                },
            );
        }
        VendorCmd::Restore {
            license,
            activation,
            reason,
        } => {
            let f = auth.restore(license, activation, &reason, &args.actor, now)?;
            out.emit(
                json!({"license_id": f.license_id, "activation_id": f.activation_id, "restored": true}),
                || {
                    format!(
                        "Activation {} of license {} restored: its seat is free (recorded in the audit log).",
                        f.activation_id, f.license_id
                    )
                },
            );
        }
        VendorCmd::Upgrade(a) => {
            let spec = UpgradeSpec {
                add_features: a
                    .add
                    .iter()
                    .map(|f| parse_feature(f, now))
                    .collect::<Result<_, _>>()?,
                extend: a
                    .extend
                    .iter()
                    .map(|e| parse_extension(e))
                    .collect::<Result<_, _>>()?,
                max_activations: a.activations,
                offline_refresh_secs: a.offline_refresh_days.map(days_secs).transpose()?,
                rollback_tolerance_secs: a.rollback_tolerance_secs,
                ..UpgradeSpec::default()
            };
            let lic = auth.upgrade(a.license, spec, now)?;
            let g = lic.grant();
            out.emit(
                json!({"license_id": g.license_id, "revision": g.revision,
                       "features": g.features.iter().map(feature_json).collect::<Vec<_>>(),
                       "license": lic.to_armor()}),
                || {
                    format!(
                        "License {} upgraded to revision {}: {}.\n\
                         The host picks this up with a new usage request round trip.",
                        g.license_id,
                        g.revision,
                        crate::output::features_line(&g.features)
                    )
                },
            );
        }
        VendorCmd::List => {
            let list = auth.list_licenses()?;
            out.emit(
                Value::Array(list.iter().map(license_json).collect()),
                || {
                    let mut s = format!(
                        "{:>6}  {:>3}  {:<9}  {:<10}  {:<20}  {:>5}  features\n",
                        "id", "rev", "status", "product", "customer", "seats"
                    );
                    for r in &list {
                        s.push_str(&format!(
                            "{:>6}  {:>3}  {:<9}  {:<10}  {:<20}  {:>2}/{:<2}  {}\n",
                            r.id,
                            r.grant.revision,
                            r.status.name(),
                            r.grant.product,
                            r.grant.customer,
                            r.active_activations,
                            r.grant.max_activations,
                            crate::output::features_line(&r.grant.features)
                        ));
                    }
                    s.trim_end().to_string()
                },
            );
        }
        VendorCmd::Show { license } => {
            let r = auth.get_license(license)?;
            let acts = auth.list_activations(license)?;
            let mut v = license_json(&r);
            v["activations"] = Value::Array(acts.iter().map(activation_json).collect());
            out.emit(v, || {
                format!(
                    "License {} (revision {}) for {} / {}{}\n  features: {}\n  seats: {} of {} in use\n  \
                     transfers: {}; rapid transfers (new seat within {} min of a freed one): {}\n  \
                     offline refresh: {}\n{}",
                    r.id,
                    r.grant.revision,
                    r.grant.product,
                    r.grant.customer,
                    match r.status {
                        LicenseStatus::Active => String::new(),
                        s => format!("  [{}]", s.name().to_uppercase()),
                    },
                    crate::output::features_line(&r.grant.features),
                    r.active_activations,
                    r.grant.max_activations,
                    match r.transfers.max_transfers {
                        Some(m) => format!("at most {m} per {} days", r.transfers.period_secs / 86_400),
                        None => "unlimited".into(),
                    },
                    auth.config().rapid_transfer_secs / 60,
                    r.rapid_transfers,
                    match r.grant.offline_refresh_secs {
                        0 => "none".to_string(),
                        s => format!("every {} days", s / 86_400),
                    },
                    activations_text(&acts)
                )
            });
        }
        VendorCmd::Activations { license } => {
            let acts = auth.list_activations(license)?;
            out.emit(
                Value::Array(acts.iter().map(activation_json).collect()),
                || activations_text(&acts),
            );
        }
        VendorCmd::MarketplaceSweep => {
            let freed = auth.sweep_marketplace(now)?;
            out.emit(json!({ "freed": freed }), || {
                if freed.is_empty() {
                    "No marketplace instance is gone.".to_owned()
                } else {
                    let ids: Vec<String> = freed.iter().map(u64::to_string).collect();
                    format!("Freed the seats of activations {}.", ids.join(", "))
                }
            });
        }
        VendorCmd::Usage(u) => usage(&mut auth, u, out, now)?,
        VendorCmd::Audit { license, limit } => {
            let log = auth.audit_log(license, limit)?;
            out.emit(Value::Array(log.iter().map(audit_json).collect()), || {
                log.iter()
                    .map(|e| {
                        format!(
                            "{}  {:<22} {:<8} license={} activation={} {}",
                            format_utc(e.at),
                            e.action,
                            e.actor,
                            e.license_id.map_or("-".into(), |v| v.to_string()),
                            e.activation_id.map_or("-".into(), |v| v.to_string()),
                            e.detail
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}

/// The first 16 hex digits of a device key, for text output.
fn short_device(d: &[u8; 32]) -> String {
    tollgate_core::hex_string(d.get(..8).unwrap_or_default())
}

fn flag_detail(f: &UsageFlag) -> String {
    match f.verdict.as_str() {
        "gap" => format!(
            "gap (expected seq {}, got {})",
            f.detail["expected"], f.detail["got"]
        ),
        "fork" => "fork (another predecessor than the merged report)".into(),
        "rewritten" => "rewritten (another report was merged at this seq)".into(),
        "not_metered" => {
            let entries: Vec<String> = f.detail["entries"]
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or_default()
                .iter()
                .map(|e| {
                    format!(
                        "{} {} per {}",
                        e["units"],
                        e["feature"].as_str().unwrap_or_default(),
                        e["period"].as_str().unwrap_or_default()
                    )
                })
                .collect();
            format!("not metered, not billed ({})", entries.join(", "))
        }
        other => other.to_owned(),
    }
}

fn flag_json(f: &UsageFlag) -> Value {
    json!({"license_id": f.license_id,
           "device_key": tollgate_core::hex_string(&f.device_key),
           "seq": f.seq, "verdict": f.verdict, "detail": f.detail,
           "flagged_at": format_utc(f.flagged_at),
           "resolved_at": f.resolved_at.map(format_utc),
           "resolution": f.resolution})
}

fn flag_line(f: &UsageFlag) -> String {
    format!(
        "license {} device {} seq {}: {}{}",
        f.license_id,
        short_device(&f.device_key),
        f.seq,
        flag_detail(f),
        f.resolved_at.map_or(String::new(), |r| format!(
            ", {} {}",
            f.resolution.as_deref().unwrap_or("resolved"),
            format_utc(r)
        ))
    )
}

/// 64 hex digits.
fn parse_device(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    Some(out)
}

/// `vendor usage` and `vendor usage import`.
fn usage(auth: &mut Authority, u: UsageArgs, out: &Out, now: u64) -> Result<(), Failure> {
    if let Some(UsageCmd::Resolve {
        license,
        device,
        seq,
        accept,
        ..
    }) = u.cmd
    {
        let dev = parse_device(&device)
            .ok_or_else(|| Failure::usage("--device: the device key, 64 hex digits"))?;
        let how = if accept {
            UsageResolution::Accept
        } else {
            UsageResolution::Dismiss
        };
        let done = auth.resolve_usage(license, &dev, seq, how, now)?;
        let flags: Vec<Value> = done.iter().map(flag_json).collect();
        out.emit(json!({ "resolved": flags }), || {
            done.iter().map(flag_line).collect::<Vec<_>>().join("\n")
        });
        return Ok(());
    }
    if let Some(UsageCmd::Import { file }) = u.cmd {
        let text = crate::input::artifact(Some(&file))?;
        let reports = tollgate_core::parse_usage_journal(&text).map_err(|e| Failure {
            exit: 3,
            code: e.code(),
            kind: crate::exit::variant_name(&e.error),
            message: e.to_string(),
        })?;
        if reports.is_empty() {
            return Err(AuthorityError::UsageSubmissionInvalid(
                "the journal holds no report".into(),
            )
            .into());
        }
        let got = auth.import_usage(&reports, now)?;
        let results: Vec<Value> = got
            .outcomes
            .iter()
            .map(|o| {
                json!({"license_id": o.license_id,
                       "device_key": tollgate_core::hex_string(&o.device_key),
                       "seq": o.seq, "verdict": verdict_name(&o.verdict)})
            })
            .collect();
        let chains: Vec<Value> = got
            .chains
            .iter()
            .map(|c| {
                json!({"license_id": c.license_id,
                       "device_key": tollgate_core::hex_string(&c.device_key),
                       "merged_through": c.merged_through})
            })
            .collect();
        let flagged = got.flagged();
        out.emit(
            json!({"results": results, "chains": chains, "flagged": flagged}),
            || {
                let mut lines: Vec<String> = got
                    .outcomes
                    .iter()
                    .map(|o| {
                        format!(
                            "license {} device {} seq {}: {}",
                            o.license_id,
                            short_device(&o.device_key),
                            o.seq,
                            verdict_name(&o.verdict)
                        )
                    })
                    .collect();
                for c in &got.chains {
                    lines.push(format!(
                        "license {} device {}: merged through seq {}",
                        c.license_id,
                        short_device(&c.device_key),
                        c.merged_through
                    ));
                }
                lines.push(format!(
                    "{} report(s), {} flagged",
                    got.outcomes.len(),
                    flagged
                ));
                lines.join("\n")
            },
        );
        if flagged > 0 {
            return Err(Failure {
                exit: 5,
                code: 0,
                kind: "UsageFlagged".into(),
                message: format!(
                    "{flagged} report(s) flagged (gap, fork or rewritten history): not merged"
                ),
            });
        }
        return Ok(());
    }
    let filter = UsageFilter::of(u.license, u.period.as_deref())
        .ok_or_else(|| Failure::usage("--period: use YYYY-MM or YYYY"))?;
    let totals = auth.usage_totals(&filter)?;
    let flags = auth.usage_flags(&filter)?;
    let totals_json: Vec<Value> = totals
        .iter()
        .map(|t| {
            json!({"license_id": t.license_id, "feature": t.feature,
                   "period": t.period.name(), "period_start": format_utc(t.period_start),
                   "units": t.units, "reports": t.reports})
        })
        .collect();
    let flags_json: Vec<Value> = flags.iter().map(flag_json).collect();
    let events = auth.meter_events(&filter)?;
    let count = |s: MeterEventStatus| events.iter().filter(|e| e.status == s).count();
    let (pending, sent, unbillable, expired) = (
        count(MeterEventStatus::Pending),
        count(MeterEventStatus::Sent),
        count(MeterEventStatus::Unbillable),
        count(MeterEventStatus::Expired),
    );
    let meter = json!({"pending": pending, "sent": sent, "unbillable": unbillable,
                       "expired": expired});
    out.emit(
        json!({"totals": totals_json, "flags": flags_json, "meter_events": meter}),
        || {
            let mut lines = vec![format!(
                "{:<8} {:<24} {:<6} {:<21} {:>12} {:>8}",
                "license", "feature", "period", "start", "units", "reports"
            )];
            for t in &totals {
                lines.push(format!(
                    "{:<8} {:<24} {:<6} {:<21} {:>12} {:>8}",
                    t.license_id,
                    t.feature,
                    t.period.name(),
                    format_utc(t.period_start),
                    t.units,
                    t.reports
                ));
            }
            if flags.is_empty() {
                lines.push("no flagged reports".into());
            } else {
                lines.push("flagged reports:".into());
                for f in &flags {
                    lines.push(flag_line(f));
                }
            }
            lines.push(format!(
                "meter events: {pending} pending, {sent} sent, {unbillable} unbillable, \
             {expired} expired"
            ));
            lines.join("\n")
        },
    );
    Ok(())
}

/// 16 hex digits.
fn parse_key_id(s: &str) -> Option<[u8; 8]> {
    let mut out = [0u8; 8];
    hex::decode_to_slice(s.trim(), &mut out).ok()?;
    Some(out)
}

fn status_done(out: &Out, license: u64, status: &str) {
    out.emit(json!({"license_id": license, "status": status}), || {
        format!("License {license} is now {status} (recorded in the audit log).")
    });
}

fn activations_text(acts: &[Activation]) -> String {
    acts.iter()
        .map(|a| {
            format!(
                "  activation {:>4}  {:<11}  {:<8}  created {}  last request #{}{}",
                a.id,
                a.status.name(),
                a.model.name(),
                format_utc(a.created_at),
                a.last_counter,
                a.follows_activation
                    .map(|f| format!("  RAPID TRANSFER after activation {f} was freed"))
                    .unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}
