//! Metered usage: hosts' signed, hash-chained usage reports (TGUR), judged link by link,
//! merged into per-license, per-feature, per-period totals, and queued for billing.
//!
//! [`Authority::import_usage`] takes reports (from the online service's `POST /v1/usage`, an
//! offline host's journal through `tollgate vendor usage import`, or the console) and, in one
//! ledger transaction:
//!
//! 1. refuses the whole submission, storing nothing, if a report's license is unknown
//!    ([`AuthorityError::LicenseNotFound`]) or revoked ([`AuthorityError::LicenseRevoked`]),
//!    if its device key is no activation of that license
//!    ([`AuthorityError::UsageDeviceUnknown`], 355) or if it holds more than
//!    [`MAX_USAGE_REPORTS`] reports ([`AuthorityError::UsageTooManyReports`], 356);
//! 2. judges each report, in sequence order per device key, with [`policy::usage_link`]
//!    against the device's merged chain: only [`UsageVerdict::Extends`] is merged; a
//!    resend ([`UsageVerdict::Duplicate`]) changes nothing; a gap, a fork or a rewritten
//!    history is stored and flagged (and audited), never merged;
//! 3. stores every report once per (device key, seq, hash), adds a merged report's entries
//!    to the totals and queues one billing meter event per entry in the outbox, with the
//!    idempotency identifier [`meter_identifier`].
//!
//! A flagged report that later extends the chain (its missing predecessors arrived) is
//! merged then, and its flag resolved. The vendor resolves the others
//! ([`Authority::resolve_usage`]): dismissing closes the flag without billing; accepting
//! judges the report again and merges it if it extends the chain or lies ahead of it (a gap
//! the host cannot fill), never a fork or a rewritten history.
//!
//! **Only metered features are billed.** A merged report still extends the chain (the chain
//! is the host's signed history, and an honest host must never stall on it), but an entry
//! whose feature is not a metered feature of the license *with the entry's period* (an
//! unknown feature, a perpetual or subscription one, or a metered one with another period)
//! is neither added to the totals nor queued for billing: it is recorded as a
//! `not_metered` flag (its feature, period and units) for the vendor to see. The license's
//! features are taken at merge time: usage of a metered feature that was removed before the
//! report was merged is not billed (and flagged). Quotas are the host's to enforce: the
//! service bills every unit reported against a metered feature, beyond the quota or not.
//!
//! The service's forwarder takes due outbox rows ([`Authority::claim_meter_events`]), sends
//! them to the payment provider, and marks each sent only after the provider accepted it
//! ([`Authority::meter_event_sent`]), or backs off ([`Authority::meter_event_failed`]). A row
//! that can never be sent ends for good ([`Authority::close_meter_event`]):
//! [`MeterEventStatus::Unbillable`] when the license has no billing customer (it was not
//! bought through the shop; such rows stay unbillable even if the license gets a customer
//! later: that customer did not buy the earlier usage), [`MeterEventStatus::Expired`] when
//! it is older than the provider takes ([`METER_EVENT_WINDOW_SECS`]).

use serde_json::json;
use tollgate_core::{hex_string, MeterPeriod, UsageReport};

use crate::audit::audit;
use crate::error::{AuthorityError, Result};
use crate::ledger::usage::{ChainHead, FlagRow, OutboxRow, RowFilter, UsageReportRow};
use crate::ledger::{parse_hex, Tx};
use crate::policy::{self, UsageLink, UsageVerdict};
use crate::records::LicenseStatus;
use crate::Authority;

/// The most reports one submission or import may hold.
pub const MAX_USAGE_REPORTS: usize = tollgate_core::MAX_JOURNAL_REPORTS;

/// The longest meter event identifier (Stripe's limit on `identifier`).
pub const MAX_METER_IDENTIFIER: usize = 100;

/// How old (since it was queued, its timestamp) a meter event may be and still be sent:
/// Stripe refuses timestamps older than 35 days; one hour less leaves room for clock skew.
pub const METER_EVENT_WINDOW_SECS: u64 = 35 * 86_400 - 3600;

/// Whether a meter event queued at `created_at` can no longer be sent at `now`.
pub fn meter_event_expired(created_at: u64, now: u64) -> bool {
    now.saturating_sub(created_at) >= METER_EVENT_WINDOW_SECS
}

/// Where a meter event stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MeterEventStatus {
    /// Waiting to be sent (or retried).
    Pending,
    /// The provider accepted it.
    Sent,
    /// Final: the license has no billing customer; never sent.
    Unbillable,
    /// Final: older than the provider takes ([`METER_EVENT_WINDOW_SECS`]); never sent.
    Expired,
}

impl MeterEventStatus {
    /// Its stable name: `pending`, `sent`, `unbillable` or `expired`.
    pub fn name(self) -> &'static str {
        match self {
            MeterEventStatus::Pending => "pending",
            MeterEventStatus::Sent => "sent",
            MeterEventStatus::Unbillable => "unbillable",
            MeterEventStatus::Expired => "expired",
        }
    }

    /// The status of a stable name.
    pub fn from_name(s: &str) -> Option<Self> {
        [
            MeterEventStatus::Pending,
            MeterEventStatus::Sent,
            MeterEventStatus::Unbillable,
            MeterEventStatus::Expired,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

/// How the vendor resolves a flag ([`Authority::resolve_usage`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UsageResolution {
    /// Close the flag(s) at that seq without billing anything.
    Dismiss,
    /// Merge the flagged report, if judged again it extends the chain or lies ahead of it.
    Accept,
}

/// One entry of a report, as the ledger takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct EntryParts {
    pub feature: String,
    pub period: MeterPeriod,
    pub period_start: u64,
    pub units: u64,
}

/// A verified report, as the ledger takes it.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ReportParts {
    pub license_id: u64,
    pub device_key: [u8; 32],
    pub seq: u64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
    pub created_at: u64,
    pub entries: Vec<EntryParts>,
    pub armored: String,
}

/// The stable name of a verdict: `merged` (for [`UsageVerdict::Extends`]), `duplicate`,
/// `gap`, `fork`, `rewritten` or `dismissed`.
pub fn verdict_name(v: &UsageVerdict) -> &'static str {
    match v {
        UsageVerdict::Extends => "merged",
        UsageVerdict::Duplicate => "duplicate",
        UsageVerdict::Gap { .. } => "gap",
        UsageVerdict::Fork { .. } => "fork",
        UsageVerdict::Rewritten { .. } => "rewritten",
        UsageVerdict::Dismissed => "dismissed",
    }
}

/// Whether the host may drop a report with this verdict (it is merged, or was already, or the
/// vendor dismissed it).
pub fn verdict_accepted(v: &UsageVerdict) -> bool {
    matches!(
        v,
        UsageVerdict::Extends | UsageVerdict::Duplicate | UsageVerdict::Dismissed
    )
}

/// What became of one report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageOutcome {
    /// The license the report is under.
    pub license_id: u64,
    /// The reporting device key.
    pub device_key: [u8; 32],
    /// Its sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: [u8; 32],
    /// The verdict on its link.
    pub verdict: UsageVerdict,
}

/// A device's chain after an import.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageChain {
    /// The license.
    pub license_id: u64,
    /// The device key.
    pub device_key: [u8; 32],
    /// The highest sequence number merged for the device key (0: none).
    pub merged_through: u64,
    /// The hash of the report merged at `merged_through` (`None`: none merged).
    pub head_hash: Option<[u8; 32]>,
}

/// The result of [`Authority::import_usage`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct UsageImport {
    /// One outcome per report, in the order given (they are judged per device key in
    /// sequence order).
    pub outcomes: Vec<UsageOutcome>,
    /// Each device key's chain afterwards, in the order first seen.
    pub chains: Vec<UsageChain>,
}

impl UsageImport {
    /// How many reports were flagged (gap, fork, rewritten).
    pub fn flagged(&self) -> usize {
        self.outcomes
            .iter()
            .filter(|o| !verdict_accepted(&o.verdict))
            .count()
    }
}

/// Which usage a listing covers: one license or all; period starts (for totals and meter
/// events) or flag times (for flags) in `[from, until)`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UsageFilter {
    /// One license, or all.
    pub license_id: Option<u64>,
    /// Inclusive lower bound (Unix seconds).
    pub from: Option<u64>,
    /// Exclusive upper bound (Unix seconds).
    pub until: Option<u64>,
}

impl UsageFilter {
    /// The filter for one license (or all) and, if given, one calendar period: `YYYY-MM` (a
    /// month) or `YYYY` (a year), UTC. `None` if `period` is neither.
    pub fn of(license_id: Option<u64>, period: Option<&str>) -> Option<Self> {
        let (from, until) = match period {
            None => (None, None),
            Some(p) => {
                let (a, b) = period_range(p)?;
                (Some(a), Some(b))
            }
        };
        Some(UsageFilter {
            license_id,
            from,
            until,
        })
    }

    fn rows(&self) -> RowFilter {
        RowFilter {
            license_id: self.license_id,
            from: self.from,
            until: self.until,
        }
    }
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `[start, end)` in Unix seconds of `YYYY-MM` or `YYYY` (UTC, years 1970–9999).
pub fn period_range(s: &str) -> Option<(u64, u64)> {
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
    let (y, m) = match s.split_once('-') {
        Some((y, m)) if digits(y, 4) && digits(m, 2) => (y.parse().ok()?, Some(m.parse().ok()?)),
        None if digits(s, 4) => (s.parse().ok()?, None),
        _ => return None,
    };
    if !(1970..=9999).contains(&y) {
        return None;
    }
    let secs = |y: i64, m: i64| u64::try_from(days_from_civil(y, m, 1) * 86_400).ok();
    match m {
        None => Some((secs(y, 1)?, secs(y + 1, 1)?)),
        Some(m) if (1..=12).contains(&m) => {
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            Some((secs(y, m)?, secs(ny, nm)?))
        }
        Some(_) => None,
    }
}

/// Merged usage of one license, feature and period.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageTotal {
    /// The license.
    pub license_id: u64,
    /// The metered feature.
    pub feature: String,
    /// The metering period.
    pub period: MeterPeriod,
    /// The period's start (Unix seconds, UTC).
    pub period_start: u64,
    /// Units merged.
    pub units: u64,
    /// Merged reports that added to it.
    pub reports: u64,
    /// When it last changed.
    pub updated_at: u64,
}

/// A report that was not merged (a gap, a fork or a rewritten history), or a merged report's
/// entries that were not billed (`not_metered`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageFlag {
    /// Flag id.
    pub id: u64,
    /// The license.
    pub license_id: u64,
    /// The reporting device key.
    pub device_key: [u8; 32],
    /// The report's sequence number.
    pub seq: u64,
    /// The report's hash.
    pub hash: [u8; 32],
    /// `gap`, `fork`, `rewritten` or `not_metered`.
    pub verdict: String,
    /// What was expected (JSON: e.g. `{"expected":3,"got":5}` for a gap); for
    /// `not_metered`, `{"entries":[{"feature","period","period_start","units"}…]}`.
    pub detail: serde_json::Value,
    /// When it was flagged.
    pub flagged_at: u64,
    /// When it was resolved, if it was.
    pub resolved_at: Option<u64>,
    /// How: `merged` (the report was merged after all, its predecessors arrived),
    /// `dismissed` or `accepted` (by the vendor), `superseded` (flagged again with another
    /// verdict).
    pub resolution: Option<String>,
}

/// One billing meter event, queued or sent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MeterEvent {
    /// The idempotency identifier ([`meter_identifier`]).
    pub identifier: String,
    /// The license.
    pub license_id: u64,
    /// The metered feature.
    pub feature: String,
    /// Its period.
    pub period: MeterPeriod,
    /// The period's start.
    pub period_start: u64,
    /// The reporting device key.
    pub device_key: [u8; 32],
    /// The report's sequence number.
    pub seq: u64,
    /// Units to bill.
    pub units: u64,
    /// When the report was merged (the event's timestamp).
    pub created_at: u64,
    /// Attempts made so far.
    pub attempts: u64,
    /// When the next attempt is due.
    pub next_attempt_at: u64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When the provider accepted it.
    pub sent_at: Option<u64>,
    /// Where it stands.
    pub status: MeterEventStatus,
}

/// A stored report, as kept in the ledger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StoredUsageReport {
    /// The license.
    pub license_id: u64,
    /// The device key.
    pub device_key: [u8; 32],
    /// Sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: [u8; 32],
    /// `merged`, `gap`, `fork` or `rewritten` (the latest verdict).
    pub verdict: String,
    /// The host's clock when cut.
    pub created_at: u64,
    /// When first received.
    pub received_at: u64,
    /// The armored report (`TGUR:…`).
    pub armored: String,
}

/// The payment provider's idempotency identifier of one merged entry:
/// `tollgate-usage-<license>-<first 8 hex digits of the device key>-<seq>-<feature>`; when
/// the report holds the feature for several periods, `:<period_start>` is appended so each
/// entry has its own. Longer than [`MAX_METER_IDENTIFIER`] (100) characters, it keeps its
/// first 83 and ends with `~` and the first 16 hex digits of the SHA-256 of the whole, so it
/// stays unique and the same on every retry.
pub fn meter_identifier(
    license_id: u64,
    device_key: &[u8; 32],
    seq: u64,
    feature: &str,
    period_start: Option<u64>,
) -> String {
    use sha2::{Digest, Sha256};
    let dev = hex_string(device_key.get(..4).unwrap_or_default());
    let base = format!("tollgate-usage-{license_id}-{dev}-{seq}-{feature}");
    let full = match period_start {
        Some(p) => format!("{base}:{p}"),
        None => base,
    };
    if full.chars().count() <= MAX_METER_IDENTIFIER {
        return full;
    }
    let digest = Sha256::digest(full.as_bytes());
    let tail = hex_string(digest.get(..8).unwrap_or_default());
    let head: String = full.chars().take(MAX_METER_IDENTIFIER - 17).collect();
    format!("{head}~{tail}")
}

fn hex32(s: &str) -> Result<[u8; 32]> {
    parse_hex(s).ok_or(AuthorityError::Corrupt("bad hex"))
}

fn period(s: &str) -> Result<MeterPeriod> {
    MeterPeriod::from_name(s).ok_or(AuthorityError::Corrupt("unknown meter period"))
}

/// Checks the submission before anything is judged: size, licenses, device keys.
fn check_submission(tx: &Tx<'_>, reports: &[ReportParts]) -> Result<()> {
    if reports.len() > MAX_USAGE_REPORTS {
        return Err(AuthorityError::UsageTooManyReports {
            max: MAX_USAGE_REPORTS,
        });
    }
    let mut seen: Vec<(u64, [u8; 32])> = Vec::new();
    for r in reports {
        if seen.contains(&(r.license_id, r.device_key)) {
            continue;
        }
        let lic = tx
            .license_by_id(r.license_id)?
            .ok_or(AuthorityError::LicenseNotFound(r.license_id))?;
        if lic.status == LicenseStatus::Revoked {
            return Err(AuthorityError::LicenseRevoked(r.license_id));
        }
        if !tx.device_of_license(r.license_id, &hex_string(&r.device_key))? {
            return Err(AuthorityError::UsageDeviceUnknown {
                license_id: r.license_id,
            });
        }
        seen.push((r.license_id, r.device_key));
    }
    Ok(())
}

/// Judges and stores one report; returns its verdict.
fn judge(
    tx: &Tx<'_>,
    actor: &str,
    r: &ReportParts,
    now: u64,
    known: &mut Known,
) -> Result<UsageVerdict> {
    let dev = hex_string(&r.device_key);
    let hash = hex_string(&r.hash);
    let head = tx
        .usage_head(&dev)?
        .map(|h| {
            Ok::<_, AuthorityError>(UsageLink {
                seq: h.seq,
                prev_hash: [0; 32],
                hash: hex32(&h.hash)?,
            })
        })
        .transpose()?;
    let merged_at = tx
        .merged_hash_at(&dev, r.seq)?
        .map(|h| hex32(&h))
        .transpose()?;
    let link = UsageLink {
        seq: r.seq,
        prev_hash: r.prev_hash,
        hash: r.hash,
    };
    let verdict = policy::usage_link(head.as_ref(), merged_at.as_ref(), &link);
    if verdict == UsageVerdict::Duplicate {
        return Ok(verdict);
    }
    // The vendor dismissed this very report (seq and hash): it stays unbilled and is not
    // flagged again, whatever the chain is now.
    if tx.usage_dismissed(&dev, r.seq, &hash)? {
        return Ok(UsageVerdict::Dismissed);
    }
    let stored = tx.usage_report(&dev, r.seq, &hash)?;
    let name = verdict_name(&verdict);
    match &stored {
        None => tx.insert_usage_report(&UsageReportRow {
            device_key: dev.clone(),
            seq: r.seq,
            hash: hash.clone(),
            license_id: r.license_id,
            prev_hash: hex_string(&r.prev_hash),
            created_at: r.created_at,
            received_at: now,
            verdict: name.into(),
            armored: r.armored.clone(),
        })?,
        Some(s) if s.verdict != name => tx.set_report_verdict(&dev, r.seq, &hash, name)?,
        Some(_) => {}
    }
    if verdict == UsageVerdict::Extends {
        merge(tx, actor, r, &dev, now, known)?;
        tx.resolve_usage_flags(&dev, r.seq, &hash, now, "merged")?;
        return Ok(verdict);
    }
    // Flagged: once per report while unresolved.
    if tx.open_flag(&dev, r.seq, &hash)?.as_deref() != Some(name) {
        tx.resolve_usage_flags(&dev, r.seq, &hash, now, "superseded")?;
        let detail = match verdict {
            UsageVerdict::Gap { expected, got } => json!({"expected": expected, "got": got}),
            UsageVerdict::Fork { seq } | UsageVerdict::Rewritten { seq } => json!({"seq": seq}),
            _ => json!({}),
        };
        let id = tx.next_id("usage_flag")?;
        tx.insert_usage_flag(&FlagRow {
            id,
            license_id: r.license_id,
            device_key: dev.clone(),
            seq: r.seq,
            hash: hash.clone(),
            verdict: name.into(),
            detail: detail.to_string(),
            flagged_at: now,
            resolved_at: None,
            resolution: None,
        })?;
        audit(
            tx,
            now,
            actor,
            "usage.flagged",
            Some(r.license_id),
            None,
            json!({"device_key": dev, "seq": r.seq, "hash": hash, "verdict": name,
                   "detail": detail}),
        )?;
    }
    Ok(verdict)
}

/// The features of the licenses met in one transaction (read once per license).
#[derive(Default)]
struct Known(Vec<(u64, Vec<tollgate_core::Feature>)>);

impl Known {
    fn features(&mut self, tx: &Tx<'_>, license_id: u64) -> Result<Vec<tollgate_core::Feature>> {
        if let Some((_, f)) = self.0.iter().find(|(l, _)| *l == license_id) {
            return Ok(f.clone());
        }
        let f = tx
            .license_record(license_id)?
            .ok_or(AuthorityError::LicenseNotFound(license_id))?
            .grant
            .features;
        self.0.push((license_id, f.clone()));
        Ok(f)
    }
}

/// Whether the license (its features now) meters `feature` per `period`.
fn metered(features: &[tollgate_core::Feature], feature: &str, period: MeterPeriod) -> bool {
    features.iter().any(|f| {
        f.name == feature
            && matches!(f.kind, tollgate_core::FeatureKind::Metered { period: p, .. } if p == period)
    })
}

/// Merges an extending report: totals and outbox (metered entries only; the others are
/// flagged `not_metered`), chain head.
fn merge(
    tx: &Tx<'_>,
    actor: &str,
    r: &ReportParts,
    dev: &str,
    now: u64,
    known: &mut Known,
) -> Result<()> {
    let features = known.features(tx, r.license_id)?;
    let mut unmetered = Vec::new();
    for e in &r.entries {
        if e.units == 0 {
            continue;
        }
        if !metered(&features, &e.feature, e.period) {
            unmetered.push(json!({"feature": e.feature, "period": e.period.name(),
                                  "period_start": e.period_start, "units": e.units}));
            continue;
        }
        tx.add_usage_total(
            r.license_id,
            &e.feature,
            e.period.name(),
            e.period_start,
            e.units,
            now,
        )?;
        let repeated = r.entries.iter().filter(|o| o.feature == e.feature).count() > 1;
        tx.insert_outbox(&OutboxRow {
            identifier: meter_identifier(
                r.license_id,
                &r.device_key,
                r.seq,
                &e.feature,
                repeated.then_some(e.period_start),
            ),
            license_id: r.license_id,
            feature: e.feature.clone(),
            period: e.period.name().into(),
            period_start: e.period_start,
            device_key: dev.to_owned(),
            seq: r.seq,
            units: e.units,
            created_at: now,
            attempts: 0,
            next_attempt_at: now,
            last_error: None,
            sent_at: None,
            status: MeterEventStatus::Pending.name().into(),
        })?;
    }
    if !unmetered.is_empty() {
        let hash = hex_string(&r.hash);
        let detail = json!({ "entries": unmetered });
        let id = tx.next_id("usage_flag")?;
        tx.insert_usage_flag(&FlagRow {
            id,
            license_id: r.license_id,
            device_key: dev.to_owned(),
            seq: r.seq,
            hash: hash.clone(),
            verdict: "not_metered".into(),
            detail: detail.to_string(),
            flagged_at: now,
            resolved_at: None,
            resolution: None,
        })?;
        audit(
            tx,
            now,
            actor,
            "usage.not_metered",
            Some(r.license_id),
            None,
            json!({"device_key": dev, "seq": r.seq, "hash": hash, "detail": detail}),
        )?;
    }
    tx.set_usage_head(
        dev,
        r.license_id,
        &ChainHead {
            seq: r.seq,
            hash: hex_string(&r.hash),
        },
        now,
    )
}

impl ReportParts {
    fn of(r: &UsageReport) -> Self {
        let c = r.claims();
        ReportParts {
            license_id: c.license_id,
            device_key: c.device_key,
            seq: c.seq,
            prev_hash: c.prev_hash,
            hash: r.hash(),
            created_at: c.created_at,
            entries: c
                .entries
                .iter()
                .map(|e| EntryParts {
                    feature: e.feature.clone(),
                    period: e.period,
                    period_start: e.period_start,
                    units: e.units,
                })
                .collect(),
            armored: r.to_armor(),
        }
    }
}

impl Authority {
    /// Judges, stores and merges verified usage reports (each already decoded and its
    /// signature checked: [`UsageReport::decode`]) in one ledger transaction (see the module
    /// documentation). Reports are judged per device key in sequence order, so the order of
    /// a submission does not matter; the outcomes follow it.
    pub fn import_usage(&mut self, reports: &[UsageReport], now: u64) -> Result<UsageImport> {
        if reports.len() > MAX_USAGE_REPORTS {
            return Err(AuthorityError::UsageTooManyReports {
                max: MAX_USAGE_REPORTS,
            });
        }
        let parts: Vec<ReportParts> = reports.iter().map(ReportParts::of).collect();
        self.import_usage_parts(&parts, now)
    }

    fn import_usage_parts(&mut self, reports: &[ReportParts], now: u64) -> Result<UsageImport> {
        // Stable order: device keys as first seen, then sequence (a fork's two reports at
        // one sequence keep their order).
        let mut devices: Vec<[u8; 32]> = Vec::new();
        for r in reports {
            if !devices.contains(&r.device_key) {
                devices.push(r.device_key);
            }
        }
        let mut order: Vec<usize> = (0..reports.len()).collect();
        order.sort_by_key(|&i| {
            let r = reports.get(i);
            (
                r.and_then(|r| devices.iter().position(|d| *d == r.device_key)),
                r.map(|r| r.seq),
            )
        });
        let actor = self.actor.as_str();
        self.ledger.write(|tx| {
            check_submission(tx, reports)?;
            let mut verdicts: Vec<Option<UsageVerdict>> = vec![None; reports.len()];
            let mut known = Known::default();
            for &i in &order {
                if let (Some(r), Some(v)) = (reports.get(i), verdicts.get_mut(i)) {
                    *v = Some(judge(tx, actor, r, now, &mut known)?);
                }
            }
            let mut out = UsageImport::default();
            for (r, v) in reports.iter().zip(verdicts) {
                let verdict = v.ok_or(AuthorityError::Corrupt("a report was not judged"))?;
                out.outcomes.push(UsageOutcome {
                    license_id: r.license_id,
                    device_key: r.device_key,
                    seq: r.seq,
                    hash: r.hash,
                    verdict,
                });
                if out
                    .chains
                    .iter()
                    .any(|c| c.device_key == r.device_key && c.license_id == r.license_id)
                {
                    continue;
                }
                let head = tx.usage_head(&hex_string(&r.device_key))?;
                out.chains.push(UsageChain {
                    license_id: r.license_id,
                    device_key: r.device_key,
                    merged_through: head.as_ref().map_or(0, |h| h.seq),
                    head_hash: head.map(|h| hex32(&h.hash)).transpose()?,
                });
            }
            Ok(out)
        })
    }

    /// Merged usage per license, feature and period (period starts in the filter's range),
    /// ordered by license, feature, period and start.
    pub fn usage_totals(&mut self, filter: &UsageFilter) -> Result<Vec<UsageTotal>> {
        let rows = self.ledger.read(|tx| tx.usage_totals(&filter.rows()))?;
        rows.into_iter()
            .map(|t| {
                Ok(UsageTotal {
                    license_id: t.license_id,
                    feature: t.feature,
                    period: period(&t.period)?,
                    period_start: t.period_start,
                    units: t.units,
                    reports: t.reports,
                    updated_at: t.updated_at,
                })
            })
            .collect()
    }

    /// Flagged reports (gaps, forks, rewritten histories), oldest first, resolved ones
    /// included; the filter's range applies to when they were flagged.
    pub fn usage_flags(&mut self, filter: &UsageFilter) -> Result<Vec<UsageFlag>> {
        let rows = self
            .ledger
            .read(|tx| tx.usage_flags(&filter.rows(), false))?;
        rows.into_iter()
            .map(|f| {
                Ok(UsageFlag {
                    id: f.id,
                    license_id: f.license_id,
                    device_key: hex32(&f.device_key)?,
                    seq: f.seq,
                    hash: hex32(&f.hash)?,
                    verdict: f.verdict,
                    detail: serde_json::from_str(&f.detail)
                        .map_err(|_| AuthorityError::Corrupt("flag detail"))?,
                    flagged_at: f.flagged_at,
                    resolved_at: f.resolved_at,
                    resolution: f.resolution,
                })
            })
            .collect()
    }

    /// Every stored report of a license (or of all), by device key and sequence.
    pub fn usage_reports(&mut self, license_id: Option<u64>) -> Result<Vec<StoredUsageReport>> {
        let rows = self.ledger.read(|tx| tx.usage_reports(license_id))?;
        rows.into_iter()
            .map(|r| {
                Ok(StoredUsageReport {
                    license_id: r.license_id,
                    device_key: hex32(&r.device_key)?,
                    seq: r.seq,
                    hash: hex32(&r.hash)?,
                    verdict: r.verdict,
                    created_at: r.created_at,
                    received_at: r.received_at,
                    armored: r.armored,
                })
            })
            .collect()
    }

    /// Unsent meter events due at `now` (at most `limit`), oldest first.
    pub fn meter_events_due(&mut self, now: u64, limit: u32) -> Result<Vec<MeterEvent>> {
        let rows = self.ledger.read(|tx| tx.outbox_due(now, limit))?;
        rows.into_iter().map(meter_event).collect()
    }

    /// Takes the unsent meter events due at `now` (at most `limit`, oldest first) for sending:
    /// until `now + lease_secs` no other sender (another replica of the service) takes them,
    /// so each is sent by one sender at a time. Then [`Authority::meter_event_sent`] or
    /// [`Authority::meter_event_failed`]; a sender that dies leaves them due again after the
    /// lease.
    pub fn claim_meter_events(
        &mut self,
        now: u64,
        limit: u32,
        lease_secs: u64,
    ) -> Result<Vec<MeterEvent>> {
        let until = now.saturating_add(lease_secs);
        let rows = self.ledger.write(|tx| tx.outbox_claim(now, limit, until))?;
        rows.into_iter().map(meter_event).collect()
    }

    /// Every meter event, sent or not (period starts in the filter's range).
    pub fn meter_events(&mut self, filter: &UsageFilter) -> Result<Vec<MeterEvent>> {
        let rows = self.ledger.read(|tx| tx.outbox_rows(&filter.rows()))?;
        rows.into_iter().map(meter_event).collect()
    }

    /// Marks a meter event sent (after the provider accepted it); `false` if it already was.
    pub fn meter_event_sent(&mut self, identifier: &str, now: u64) -> Result<bool> {
        self.ledger.write(|tx| tx.outbox_sent(identifier, now))
    }

    /// Records a failed attempt to send a meter event, to be retried at `retry_at`.
    pub fn meter_event_failed(
        &mut self,
        identifier: &str,
        error: &str,
        retry_at: u64,
    ) -> Result<()> {
        let error: String = error.chars().take(500).collect();
        self.ledger
            .write(|tx| tx.outbox_failed(identifier, &error, retry_at))
    }

    /// Ends a pending meter event without sending it: `status` is
    /// [`MeterEventStatus::Unbillable`] or [`MeterEventStatus::Expired`] (final), `why` says
    /// why. `false` if it was not pending. Any other status is an
    /// [`AuthorityError::InvalidArgument`].
    pub fn close_meter_event(
        &mut self,
        identifier: &str,
        status: MeterEventStatus,
        why: &str,
    ) -> Result<bool> {
        if !matches!(
            status,
            MeterEventStatus::Unbillable | MeterEventStatus::Expired
        ) {
            return Err(AuthorityError::invalid(
                "a meter event is closed as unbillable or expired",
            ));
        }
        let why: String = why.chars().take(500).collect();
        self.ledger
            .write(|tx| tx.outbox_close(identifier, status.name(), &why))
    }

    /// Resolves the open flags of the license's device key at `seq` (audited as
    /// `usage.resolved`). [`UsageResolution::Dismiss`] closes them all without billing.
    /// [`UsageResolution::Accept`] judges the one flagged report at that seq again against
    /// the chain as it is now and merges it (its metered entries are totalled and queued for
    /// billing, the chain's head moves to it) only if it extends the chain or lies ahead of
    /// it (a gap the host cannot fill: the missing reports are given up, and judged
    /// `rewritten` if they come later); a fork (another predecessor than the head) or a
    /// rewritten history (another report merged at that seq) is refused with
    /// [`AuthorityError::UsageAcceptRefused`] (359), as is a seq with several flagged
    /// reports. No open flag there: [`AuthorityError::UsageFlagNotFound`] (358). Returns the
    /// flags resolved.
    pub fn resolve_usage(
        &mut self,
        license_id: u64,
        device_key: &[u8; 32],
        seq: u64,
        how: UsageResolution,
        now: u64,
    ) -> Result<Vec<UsageFlag>> {
        let actor = self.actor.clone();
        let dev = hex_string(device_key);
        let ids = self.ledger.write(|tx| {
            let open = tx.open_flags_at(license_id, &dev, seq)?;
            if open.is_empty() {
                return Err(AuthorityError::UsageFlagNotFound { license_id, seq });
            }
            let resolution = match how {
                UsageResolution::Dismiss => "dismissed",
                UsageResolution::Accept => {
                    accept(tx, &actor, license_id, &dev, seq, &open, now)?;
                    "accepted"
                }
            };
            let mut ids = Vec::new();
            for f in &open {
                if tx.resolve_flag(f.id, resolution, now)? {
                    ids.push(f.id);
                }
            }
            audit(
                tx,
                now,
                &actor,
                "usage.resolved",
                Some(license_id),
                None,
                json!({"device_key": dev, "seq": seq, "resolution": resolution,
                       "flags": ids}),
            )?;
            Ok(ids)
        })?;
        let all = self.usage_flags(&UsageFilter {
            license_id: Some(license_id),
            ..UsageFilter::default()
        })?;
        Ok(all.into_iter().filter(|f| ids.contains(&f.id)).collect())
    }
}

/// Merges the one flagged report at `seq` if it lies ahead of the chain (see
/// [`Authority::resolve_usage`]).
fn accept(
    tx: &Tx<'_>,
    actor: &str,
    license_id: u64,
    dev: &str,
    seq: u64,
    open: &[FlagRow],
    now: u64,
) -> Result<()> {
    let refused = |why: &str| AuthorityError::UsageAcceptRefused {
        seq,
        why: why.into(),
    };
    let mut hashes: Vec<&str> = open
        .iter()
        .filter(|f| f.verdict != "not_metered")
        .map(|f| f.hash.as_str())
        .collect();
    hashes.dedup();
    let hash = match hashes.as_slice() {
        [] => {
            return Err(refused(
                "the report is merged; only dismiss its not_metered flag",
            ))
        }
        [one] => (*one).to_owned(),
        _ => return Err(refused("several reports are flagged at this seq")),
    };
    let stored = tx
        .usage_report(dev, seq, &hash)?
        .ok_or(AuthorityError::Corrupt("a flagged report is not stored"))?;
    // Judged again against the chain as it is now: only a report that extends it or lies
    // ahead of it (a gap) is merged.
    let head = tx
        .usage_head(dev)?
        .map(|h| {
            Ok::<_, AuthorityError>(UsageLink {
                seq: h.seq,
                prev_hash: [0; 32],
                hash: hex32(&h.hash)?,
            })
        })
        .transpose()?;
    let merged_at = tx
        .merged_hash_at(dev, seq)?
        .map(|h| hex32(&h))
        .transpose()?;
    let link = UsageLink {
        seq,
        prev_hash: hex32(&stored.prev_hash)?,
        hash: hex32(&hash)?,
    };
    match policy::usage_link(head.as_ref(), merged_at.as_ref(), &link) {
        UsageVerdict::Extends | UsageVerdict::Gap { .. } => {}
        v => {
            return Err(refused(&format!(
                "judged against the chain merged through seq {}, it is a {}: a fork or a \
                 rewritten history is never merged",
                head.map_or(0, |h| h.seq),
                verdict_name(&v)
            )))
        }
    }
    let report = UsageReport::from_armor(&stored.armored)
        .map_err(|_| AuthorityError::Corrupt("a stored usage report"))?;
    let parts = ReportParts::of(&report);
    if parts.license_id != license_id || hex_string(&parts.device_key) != dev {
        return Err(AuthorityError::Corrupt("a stored usage report"));
    }
    tx.set_report_verdict(dev, seq, &hash, "merged")?;
    merge(tx, actor, &parts, dev, now, &mut Known::default())
}

fn meter_event(o: OutboxRow) -> Result<MeterEvent> {
    Ok(MeterEvent {
        period: period(&o.period)?,
        device_key: hex32(&o.device_key)?,
        identifier: o.identifier,
        license_id: o.license_id,
        feature: o.feature,
        period_start: o.period_start,
        seq: o.seq,
        units: o.units,
        created_at: o.created_at,
        attempts: o.attempts,
        next_attempt_at: o.next_attempt_at,
        last_error: o.last_error,
        sent_at: o.sent_at,
        status: MeterEventStatus::from_name(&o.status)
            .ok_or(AuthorityError::Corrupt("unknown meter event status"))?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods_parse_exactly() {
        assert_eq!(
            period_range("2023-11"),
            Some((1_698_796_800, 1_701_388_800))
        );
        assert_eq!(
            period_range("2023-12"),
            Some((1_701_388_800, 1_704_067_200))
        );
        assert_eq!(period_range("2024"), Some((1_704_067_200, 1_735_689_600)));
        assert_eq!(period_range("1970-01"), Some((0, 2_678_400)));
        for bad in [
            "2023-13",
            "2023-00",
            "2023-1",
            "23-11",
            "1969-12",
            "2023-11-01",
            "",
            "x",
        ] {
            assert_eq!(period_range(bad), None, "{bad}");
        }
        assert_eq!(
            meter_identifier(7, &[0xab; 32], 3, "iot-bridge", None),
            "tollgate-usage-7-abababab-3-iot-bridge"
        );
    }

    #[test]
    fn long_meter_identifiers_are_cut_to_100_with_a_hash_of_the_whole() {
        let feature = "f".repeat(32);
        let a = meter_identifier(u64::MAX, &[0xcd; 32], u64::MAX, &feature, Some(u64::MAX));
        let b = meter_identifier(
            u64::MAX,
            &[0xcd; 32],
            u64::MAX,
            &feature,
            Some(u64::MAX - 1),
        );
        assert_eq!((a.len(), b.len()), (100, 100));
        assert_ne!(a, b);
        let full = format!(
            "tollgate-usage-{m}-cdcdcdcd-{m}-{feature}:{m}",
            m = u64::MAX
        );
        assert_eq!(full.len(), 119);
        let tail = {
            use sha2::{Digest, Sha256};
            hex_string(&Sha256::digest(full.as_bytes())[..8])
        };
        assert_eq!(a, format!("{}~{tail}", &full[..83]));
        // The same entry always gets the same identifier.
        assert_eq!(
            a,
            meter_identifier(u64::MAX, &[0xcd; 32], u64::MAX, &feature, Some(u64::MAX))
        );
        // Exactly 100 characters stay as they are.
        let f100 = "g".repeat(100 - "tollgate-usage-1-cdcdcdcd-1-".len());
        let id = meter_identifier(1, &[0xcd; 32], 1, &f100, None);
        assert_eq!(id, format!("tollgate-usage-1-cdcdcdcd-1-{f100}"));
        assert_eq!(id.len(), 100);
        assert!(meter_event_expired(0, METER_EVENT_WINDOW_SECS));
        assert!(!meter_event_expired(0, METER_EVENT_WINDOW_SECS - 1));
        assert!(!meter_event_expired(10, 0));
    }
}
