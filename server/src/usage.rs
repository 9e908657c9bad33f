//! Metered usage (issue 15): hosts' signed usage reports in (`POST /v1/usage`, and the admin
//! import of an offline host's journal), the totals out (`GET /v1/admin/usage`), and the
//! forwarder that sends each merged entry to Stripe's billing meter events.
//!
//! Every decision is the authority's ([`tollgate_authority::usage`]): this module decodes
//! and verifies the reports (each signed by the device key it names), converts JSON, and
//! forwards the ledger's outbox. A meter event is sent with its ledger identifier as both
//! Stripe's `identifier` and the `Idempotency-Key`, and marked sent only after Stripe's 2xx,
//! so a retry (after a timeout, a crash or a restart) never bills twice. A failed attempt is
//! retried after a back-off that doubles per attempt, from [`RETRY_BASE_SECS`] up to
//! [`RETRY_MAX_SECS`]. An event that can never be sent ends without a Stripe call: `expired`
//! once Stripe would refuse its timestamp
//! ([`tollgate_authority::METER_EVENT_WINDOW_SECS`], 35 days less an
//! hour), `unbillable` when its license has no billing customer (not bought through the
//! shop; it stays unbillable if the license gets one later). Entries of features that are
//! not metered by the license are never queued (see [`tollgate_authority::usage`]).
//! Counted in `/metrics`: `tollgate_usage_reports_total{verdict}` and
//! `tollgate_meter_events_total{outcome}`.

use std::sync::Arc;

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use tollgate_authority::{
    meter_event_expired, verdict_name, AuthorityError, MeterEvent, MeterEventStatus, UsageFilter,
    UsageFlag, UsageImport, UsageResolution, UsageTotal, MAX_USAGE_REPORTS,
};
use tollgate_core::{hex_string, UsageReport};
use tollgate_protocol::usage::{UsageReceipt, UsageResult, UsageSubmission, UsageVerdictName};
use tollgate_service_kit::http::Body;
use tollgate_service_kit::ApiError;

use crate::api::AppState;
use crate::refusal::ledger_error;
use crate::shop::{ItemKind, Shop};
use crate::store::{unix_now, ADMIN_ACTOR};

type App = State<Arc<AppState>>;

/// The actor of the usage calls in the audit log.
pub const USAGE_ACTOR: &str = "usage";

/// The largest body `POST /v1/admin/usage/import` takes: a whole offline journal (up to
/// [`MAX_USAGE_REPORTS`] reports), where every other route takes 64 KiB.
pub const MAX_JOURNAL_BODY: usize = 4 << 20;

/// The first retry of a failed meter event waits this long (seconds).
pub const RETRY_BASE_SECS: u64 = 30;
/// The longest wait between two attempts (seconds).
pub const RETRY_MAX_SECS: u64 = 3600;
/// How long a forwarding round holds the events it took (seconds): another replica's
/// forwarder does not send them meanwhile.
pub const CLAIM_SECS: u64 = 300;
/// Meter events sent per forwarding round at most.
pub const FORWARD_BATCH: u32 = 100;

/// When to try again after the `attempts`-th failed attempt (1 for the first).
pub fn retry_at(now: u64, attempts: u64) -> u64 {
    let shift = u32::try_from(attempts.saturating_sub(1))
        .unwrap_or(u32::MAX)
        .min(20);
    now.saturating_add(
        RETRY_BASE_SECS
            .saturating_mul(1 << shift)
            .min(RETRY_MAX_SECS),
    )
}

/// Counts an import's verdicts in the metrics.
fn count_verdicts(app: &AppState, got: &UsageImport) {
    for o in &got.outcomes {
        app.metrics.usage_reports(verdict_name(&o.verdict), 1);
    }
}

fn invalid(msg: &str) -> ApiError {
    ledger_error(AuthorityError::UsageSubmissionInvalid(msg.into()))
}

fn protocol_verdict(v: &tollgate_authority::policy::UsageVerdict) -> UsageVerdictName {
    use tollgate_authority::policy::UsageVerdict as V;
    match v {
        V::Extends => UsageVerdictName::Merged,
        V::Duplicate => UsageVerdictName::Duplicate,
        V::Gap { .. } => UsageVerdictName::Gap,
        V::Fork { .. } => UsageVerdictName::Fork,
        V::Rewritten { .. } => UsageVerdictName::Rewritten,
        V::Dismissed => UsageVerdictName::Dismissed,
    }
}

/// `POST /v1/usage`: one host's reports (one license, one device key), each verified against
/// the device key it names, judged and merged in one ledger transaction. Refusals (nothing
/// stored): a report that does not decode or verify (its core code, e.g. 111 a bad
/// signature), 355 the device key is no activation of the license, 304/325 an unknown or
/// revoked license, 356 too many reports, 357 no report or several licenses or device keys.
pub async fn submit(
    State(app): App,
    Body(b): Body<UsageSubmission>,
) -> Result<Json<UsageReceipt>, ApiError> {
    if b.reports.is_empty() {
        return Err(invalid("no report"));
    }
    if b.reports.len() > MAX_USAGE_REPORTS {
        return Err(ledger_error(AuthorityError::UsageTooManyReports {
            max: MAX_USAGE_REPORTS,
        }));
    }
    let reports = b
        .reports
        .iter()
        .map(|r| UsageReport::from_armor(r.trim()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ledger_error(AuthorityError::from(e)))?;
    let first = reports
        .first()
        .map(|r| (r.claims().license_id, r.claims().device_key))
        .ok_or_else(|| invalid("no report"))?;
    if reports
        .iter()
        .any(|r| (r.claims().license_id, r.claims().device_key) != first)
    {
        return Err(invalid(
            "the reports of one submission are one license's and one device key's",
        ));
    }
    let got = app
        .store
        .run(USAGE_ACTOR, move |a| a.import_usage(&reports, unix_now()))
        .await?;
    count_verdicts(&app, &got);
    let flagged = got.flagged();
    if flagged > 0 {
        tracing::warn!(
            license_id = first.0,
            flagged,
            "usage reports flagged (gap, fork or rewritten history)"
        );
    }
    Ok(Json(UsageReceipt {
        license_id: first.0,
        device_key: hex_string(&first.1),
        merged_through: got.chains.first().map_or(0, |c| c.merged_through),
        head_hash: got
            .chains
            .first()
            .and_then(|c| c.head_hash.as_ref())
            .map(|h| hex_string(h)),
        results: got
            .outcomes
            .iter()
            .map(|o| UsageResult {
                seq: o.seq,
                verdict: protocol_verdict(&o.verdict),
            })
            .collect(),
    }))
}

/// `POST /v1/admin/usage/import`'s body: an offline host's usage journal.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageImportIn {
    /// The journal text: armored `TGUR` reports, one a line (`#` comments and blank lines
    /// ignored).
    pub journal: String,
}

/// One report's verdict in an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageResultOut {
    /// The license.
    pub license_id: u64,
    /// The device key, hex.
    pub device_key: String,
    /// The report's seq.
    pub seq: u64,
    /// `merged`, `duplicate`, `gap`, `fork`, `rewritten` or `dismissed`.
    pub verdict: String,
}

/// One device's chain after an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageChainOut {
    /// The license.
    pub license_id: u64,
    /// The device key, hex.
    pub device_key: String,
    /// The highest seq merged for the device key.
    pub merged_through: u64,
}

/// The answer of `POST /v1/admin/usage/import`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageImportOut {
    /// One verdict per report, in journal order.
    pub results: Vec<UsageResultOut>,
    /// Each device's chain afterwards.
    pub chains: Vec<UsageChainOut>,
    /// Reports flagged (not merged).
    pub flagged: usize,
}

impl From<UsageImport> for UsageImportOut {
    fn from(i: UsageImport) -> Self {
        UsageImportOut {
            flagged: i.flagged(),
            results: i
                .outcomes
                .iter()
                .map(|o| UsageResultOut {
                    license_id: o.license_id,
                    device_key: hex_string(&o.device_key),
                    seq: o.seq,
                    verdict: verdict_name(&o.verdict).into(),
                })
                .collect(),
            chains: i
                .chains
                .iter()
                .map(|c| UsageChainOut {
                    license_id: c.license_id,
                    device_key: hex_string(&c.device_key),
                    merged_through: c.merged_through,
                })
                .collect(),
        }
    }
}

/// `POST /v1/admin/usage/import`: an offline host's journal, as `tollgate vendor usage
/// import`. A line that is not a valid report refuses the whole journal with its core code
/// (the message names the line); nothing is stored then.
pub async fn admin_import(
    State(app): App,
    Body(b): Body<UsageImportIn>,
) -> Result<Json<UsageImportOut>, ApiError> {
    let reports = tollgate_core::parse_usage_journal(&b.journal).map_err(|e| {
        let mut err = ledger_error(AuthorityError::Core(e.error));
        err.message = e.to_string();
        err
    })?;
    if reports.is_empty() {
        return Err(invalid("the journal holds no report"));
    }
    let got = app
        .store
        .run(ADMIN_ACTOR, move |a| a.import_usage(&reports, unix_now()))
        .await?;
    count_verdicts(&app, &got);
    Ok(Json(got.into()))
}

/// `GET /v1/admin/usage`'s query.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageQuery {
    /// One license.
    pub license: Option<u64>,
    /// `YYYY-MM` or `YYYY`.
    pub period: Option<String>,
}

/// A total, as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTotalOut {
    /// The license.
    pub license_id: u64,
    /// The metered feature.
    pub feature: String,
    /// `day`, `month` or `year`.
    pub period: String,
    /// The period's start, Unix seconds.
    pub period_start: u64,
    /// Units merged.
    pub units: u64,
    /// Reports merged into it.
    pub reports: u64,
}

impl From<UsageTotal> for UsageTotalOut {
    fn from(t: UsageTotal) -> Self {
        UsageTotalOut {
            license_id: t.license_id,
            feature: t.feature,
            period: t.period.name().into(),
            period_start: t.period_start,
            units: t.units,
            reports: t.reports,
        }
    }
}

/// A flag, as the admin API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageFlagOut {
    /// Flag id.
    pub id: u64,
    /// The license.
    pub license_id: u64,
    /// The device key, hex.
    pub device_key: String,
    /// The report's seq.
    pub seq: u64,
    /// `gap`, `fork`, `rewritten`, or `not_metered` (a merged report's entries of features
    /// the license does not meter: never billed).
    pub verdict: String,
    /// What was expected; for `not_metered`, the entries (feature, period, period_start,
    /// units).
    pub detail: serde_json::Value,
    /// When flagged (Unix seconds).
    pub flagged_at: u64,
    /// When resolved, if it was.
    pub resolved_at: Option<u64>,
    /// How: `merged`, `dismissed`, `accepted` or `superseded`.
    pub resolution: Option<String>,
}

impl From<UsageFlag> for UsageFlagOut {
    fn from(f: UsageFlag) -> Self {
        UsageFlagOut {
            id: f.id,
            license_id: f.license_id,
            device_key: hex_string(&f.device_key),
            seq: f.seq,
            verdict: f.verdict,
            detail: f.detail,
            flagged_at: f.flagged_at,
            resolved_at: f.resolved_at,
            resolution: f.resolution,
        }
    }
}

/// The answer of `GET /v1/admin/usage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageOut {
    /// Totals per license, feature and period (period starts in the period asked for).
    pub totals: Vec<UsageTotalOut>,
    /// Flagged reports (raised in the period asked for), resolved ones included.
    pub flags: Vec<UsageFlagOut>,
    /// Meter events still to be sent (pending; of the totals listed).
    pub unsent_meter_events: usize,
    /// Meter events per status (of the totals listed).
    pub meter_events: MeterEventCounts,
}

/// Meter events per status.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MeterEventCounts {
    /// To be sent (or retried).
    pub pending: usize,
    /// Accepted by Stripe.
    pub sent: usize,
    /// Never sent: the license has no billing customer.
    pub unbillable: usize,
    /// Never sent: older than Stripe takes.
    pub expired: usize,
}

impl MeterEventCounts {
    /// Counts events per status.
    pub fn of(events: &[MeterEvent]) -> Self {
        let n = |s: MeterEventStatus| events.iter().filter(|e| e.status == s).count();
        MeterEventCounts {
            pending: n(MeterEventStatus::Pending),
            sent: n(MeterEventStatus::Sent),
            unbillable: n(MeterEventStatus::Unbillable),
            expired: n(MeterEventStatus::Expired),
        }
    }
}

/// `GET /v1/admin/usage?license=&period=`: totals and flags for the console.
pub async fn admin_usage(
    State(app): App,
    q: Result<Query<UsageQuery>, QueryRejection>,
) -> Result<Json<UsageOut>, ApiError> {
    let Query(q) = q.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let filter = UsageFilter::of(q.license, q.period.as_deref())
        .ok_or_else(|| ApiError::bad_request("period: YYYY-MM or YYYY"))?;
    let (totals, flags, events) = app
        .store
        .run(ADMIN_ACTOR, move |a| {
            Ok((
                a.usage_totals(&filter)?,
                a.usage_flags(&filter)?,
                a.meter_events(&filter)?,
            ))
        })
        .await?;
    Ok(Json(UsageOut {
        totals: totals.into_iter().map(Into::into).collect(),
        flags: flags.into_iter().map(Into::into).collect(),
        unsent_meter_events: events
            .iter()
            .filter(|e| e.status == MeterEventStatus::Pending)
            .count(),
        meter_events: MeterEventCounts::of(&events),
    }))
}

/// `POST /v1/admin/usage/resolve`'s body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageResolveIn {
    /// The license.
    pub license_id: u64,
    /// The device key, hex.
    pub device_key: String,
    /// The flagged report's seq.
    pub seq: u64,
    /// `dismiss` or `accept`.
    pub resolution: String,
}

/// `POST /v1/admin/usage/resolve`: resolves the open flags at one seq of a device's chain,
/// as `tollgate vendor usage resolve` ([`tollgate_authority::Authority::resolve_usage`]):
/// 358 no open flag there, 359 an accept of a fork or a rewritten history.
/// Answers the flags resolved.
pub async fn admin_resolve(
    State(app): App,
    Body(b): Body<UsageResolveIn>,
) -> Result<Json<Vec<UsageFlagOut>>, ApiError> {
    let how = match b.resolution.as_str() {
        "dismiss" => UsageResolution::Dismiss,
        "accept" => UsageResolution::Accept,
        _ => return Err(ApiError::bad_request("resolution: dismiss or accept")),
    };
    let dev = device_key(&b.device_key)
        .ok_or_else(|| ApiError::bad_request("device_key: 64 hex digits"))?;
    let done = app
        .store
        .run(ADMIN_ACTOR, move |a| {
            a.resolve_usage(b.license_id, &dev, b.seq, how, unix_now())
        })
        .await?;
    Ok(Json(done.into_iter().map(Into::into).collect()))
}

/// What one forwarding round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Forwarded {
    /// Identifiers Stripe accepted (now marked sent), in order.
    pub sent: Vec<String>,
    /// Identifiers that failed (to be retried), with why.
    pub failed: Vec<(String, String)>,
    /// Identifiers ended as unbillable (no billing customer), never sent.
    pub unbillable: Vec<String>,
    /// Identifiers ended as expired (older than Stripe takes), never sent.
    pub expired: Vec<String>,
}

/// The Stripe meter's event name of a metered feature, from the shop's catalogue.
fn meter_name<'a>(shop: &'a Shop, feature: &str) -> Option<&'a str> {
    shop.config
        .items
        .iter()
        .find(|i| i.kind == ItemKind::Metered && i.feature == feature)
        .and_then(|i| i.meter.as_deref())
}

/// Sends one event; `Err` says why not.
fn send(shop: &Shop, e: &MeterEvent, customer: &str) -> Result<(), String> {
    let name = meter_name(shop, &e.feature)
        .ok_or_else(|| format!("no meter configured for feature `{}`", e.feature))?;
    shop.stripe
        .meter_event(name, customer, e.units, &e.identifier, e.created_at)
        .map_err(|e| e.to_string())
}

/// Sends the meter events due at `now` (at most [`FORWARD_BATCH`]) to Stripe, marking each
/// sent after Stripe's 2xx, and scheduling a retry for each failure. Events too old for
/// Stripe end as expired, events of a license without a billing customer as unbillable,
/// neither sent. Without a shop (no Stripe), nothing is sent.
pub async fn forward_usage(
    app: &Arc<AppState>,
    now: u64,
) -> Result<Forwarded, tollgate_service_kit::ApiError> {
    let Some(shop) = app.shop.clone() else {
        return Ok(Forwarded::default());
    };
    let (due, mut done) = app
        .store
        .run(USAGE_ACTOR, move |a| {
            let due = a.claim_meter_events(now, FORWARD_BATCH, CLAIM_SECS)?;
            let mut out = Vec::with_capacity(due.len());
            let mut done = Forwarded::default();
            for e in due {
                if meter_event_expired(e.created_at, now) {
                    let why = "older than Stripe takes (35 days): never sent";
                    if a.close_meter_event(&e.identifier, MeterEventStatus::Expired, why)? {
                        done.expired.push(e.identifier);
                    }
                    continue;
                }
                match a.billing_customer(e.license_id)? {
                    Some(c) => out.push((e, c)),
                    None => {
                        let why = format!("license {} has no billing customer", e.license_id);
                        if a.close_meter_event(&e.identifier, MeterEventStatus::Unbillable, &why)? {
                            done.unbillable.push(e.identifier);
                        }
                    }
                }
            }
            Ok((out, done))
        })
        .await?;
    app.metrics
        .meter_events("expired", len64(done.expired.len()));
    app.metrics
        .meter_events("unbillable", len64(done.unbillable.len()));
    for id in done.expired.iter().chain(&done.unbillable) {
        tracing::warn!(identifier = %id, "meter event ended unsent (expired or unbillable)");
    }
    for (e, customer) in due {
        let s = Arc::clone(&shop);
        let ev = e.clone();
        let result = tokio::task::spawn_blocking(move || send(&s, &ev, &customer))
            .await
            .unwrap_or_else(|j| Err(format!("sender failed: {j}")));
        let id = e.identifier.clone();
        match result {
            Ok(()) => {
                let at = unix_now().max(now);
                app.store
                    .run(USAGE_ACTOR, move |a| a.meter_event_sent(&id, at))
                    .await?;
                app.metrics.meter_events("sent", 1);
                done.sent.push(e.identifier);
            }
            Err(why) => {
                let next = retry_at(now, e.attempts.saturating_add(1));
                let (i, w) = (id.clone(), why.clone());
                app.store
                    .run(USAGE_ACTOR, move |a| a.meter_event_failed(&i, &w, next))
                    .await?;
                app.metrics.meter_events("failed", 1);
                tracing::warn!(identifier = %id, error = %why, retry_at = next, "meter event not sent");
                done.failed.push((id, why));
            }
        }
    }
    Ok(done)
}

/// Forwards due meter events every `interval` until `stop` says true (the service's graceful
/// shutdown); a round in progress is finished first.
pub async fn forward_task(
    app: Arc<AppState>,
    interval: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.wait_for(|s| *s) => return,
        }
        match forward_usage(&app, unix_now()).await {
            Ok(f)
                if f.sent.is_empty()
                    && f.failed.is_empty()
                    && f.unbillable.is_empty()
                    && f.expired.is_empty() => {}
            Ok(f) => tracing::info!(
                sent = f.sent.len(),
                failed = f.failed.len(),
                unbillable = f.unbillable.len(),
                expired = f.expired.len(),
                "meter events forwarded"
            ),
            Err(e) => tracing::warn!(code = e.code, error = %e.message, "meter forwarding failed"),
        }
    }
}

/// 64 hex digits as 32 bytes.
fn device_key(s: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(s, &mut out).ok()?;
    Some(out)
}

fn len64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_exponentially_up_to_an_hour() {
        let got: Vec<u64> = (1..=9).map(|n| retry_at(1000, n) - 1000).collect();
        assert_eq!(got, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600]);
        assert_eq!(retry_at(u64::MAX - 5, 1), u64::MAX);
        assert_eq!(retry_at(0, u64::MAX), 3600);
    }
}
