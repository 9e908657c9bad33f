//! Metered usage's statements: reports, chain heads, totals, flags and the billing outbox
//! (migration 6).

use super::{col_opt_u64, col_str, col_u64, to_i64, Tx};
use crate::error::{AuthorityError, Result};
use tollgate_storage::{Row, Val};

fn int(v: u64) -> Result<Val> {
    Ok(Val::Int(to_i64(v)?))
}

fn text(s: &str) -> Val {
    Val::Text(s.to_owned())
}

fn opt_str(r: &Row, i: usize) -> Result<Option<String>> {
    match r.get(i)? {
        Val::Null => Ok(None),
        Val::Text(s) => Ok(Some(s.clone())),
        Val::Int(_) => Err(AuthorityError::Corrupt("integer where text belongs")),
    }
}

/// One row of `usage_reports`.
#[derive(Clone, Debug)]
pub(crate) struct UsageReportRow {
    pub device_key: String,
    pub seq: u64,
    pub hash: String,
    pub license_id: u64,
    pub prev_hash: String,
    pub created_at: u64,
    pub received_at: u64,
    pub verdict: String,
    pub armored: String,
}

/// The head of a device key's merged chain.
#[derive(Clone, Debug)]
pub(crate) struct ChainHead {
    pub seq: u64,
    pub hash: String,
}

/// One row of `usage_totals`.
#[derive(Clone, Debug)]
pub(crate) struct TotalRow {
    pub license_id: u64,
    pub feature: String,
    pub period: String,
    pub period_start: u64,
    pub units: u64,
    pub reports: u64,
    pub updated_at: u64,
}

/// One row of `usage_flags`.
#[derive(Clone, Debug)]
pub(crate) struct FlagRow {
    pub id: u64,
    pub license_id: u64,
    pub device_key: String,
    pub seq: u64,
    pub hash: String,
    pub verdict: String,
    pub detail: String,
    pub flagged_at: u64,
    pub resolved_at: Option<u64>,
    pub resolution: Option<String>,
}

/// One row of `usage_outbox`.
#[derive(Clone, Debug)]
pub(crate) struct OutboxRow {
    pub identifier: String,
    pub license_id: u64,
    pub feature: String,
    pub period: String,
    pub period_start: u64,
    pub device_key: String,
    pub seq: u64,
    pub units: u64,
    pub created_at: u64,
    pub attempts: u64,
    pub next_attempt_at: u64,
    pub last_error: Option<String>,
    pub sent_at: Option<u64>,
    pub status: String,
}

/// Which rows a listing covers: one license or all, period starts in `[from, until)`.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct RowFilter {
    pub license_id: Option<u64>,
    pub from: Option<u64>,
    pub until: Option<u64>,
}

impl RowFilter {
    /// ` WHERE …` over `license_id` and the time column `col`, with its values.
    fn clause(&self, col: &str) -> Result<(String, Vec<Val>)> {
        let mut parts = Vec::new();
        let mut vals = Vec::new();
        if let Some(l) = self.license_id {
            vals.push(int(l)?);
            parts.push(format!("license_id = ?{}", vals.len()));
        }
        if let Some(f) = self.from {
            vals.push(int(f)?);
            parts.push(format!("{col} >= ?{}", vals.len()));
        }
        if let Some(u) = self.until {
            vals.push(int(u)?);
            parts.push(format!("{col} < ?{}", vals.len()));
        }
        let w = if parts.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", parts.join(" AND "))
        };
        Ok((w, vals))
    }
}

const REPORT_COLS: &str = "SELECT device_key, seq, hash, license_id, prev_hash, created_at, \
     received_at, verdict, armored FROM usage_reports";

fn report_row(r: &Row) -> Result<UsageReportRow> {
    Ok(UsageReportRow {
        device_key: col_str(r, 0)?,
        seq: col_u64(r, 1)?,
        hash: col_str(r, 2)?,
        license_id: col_u64(r, 3)?,
        prev_hash: col_str(r, 4)?,
        created_at: col_u64(r, 5)?,
        received_at: col_u64(r, 6)?,
        verdict: col_str(r, 7)?,
        armored: col_str(r, 8)?,
    })
}

const FLAG_COLS: &str = "SELECT id, license_id, device_key, seq, hash, verdict, detail, \
     flagged_at, resolved_at, resolution FROM usage_flags";

fn flag_row(r: &Row) -> Result<FlagRow> {
    Ok(FlagRow {
        id: col_u64(r, 0)?,
        license_id: col_u64(r, 1)?,
        device_key: col_str(r, 2)?,
        seq: col_u64(r, 3)?,
        hash: col_str(r, 4)?,
        verdict: col_str(r, 5)?,
        detail: col_str(r, 6)?,
        flagged_at: col_u64(r, 7)?,
        resolved_at: col_opt_u64(r, 8)?,
        resolution: opt_str(r, 9)?,
    })
}

const OUTBOX_COLS: &str = "SELECT identifier, license_id, feature, period, period_start, \
     device_key, seq, units, created_at, attempts, next_attempt_at, last_error, sent_at, \
     status FROM usage_outbox";

fn outbox_row(r: &Row) -> Result<OutboxRow> {
    Ok(OutboxRow {
        identifier: col_str(r, 0)?,
        license_id: col_u64(r, 1)?,
        feature: col_str(r, 2)?,
        period: col_str(r, 3)?,
        period_start: col_u64(r, 4)?,
        device_key: col_str(r, 5)?,
        seq: col_u64(r, 6)?,
        units: col_u64(r, 7)?,
        created_at: col_u64(r, 8)?,
        attempts: col_u64(r, 9)?,
        next_attempt_at: col_u64(r, 10)?,
        last_error: opt_str(r, 11)?,
        sent_at: col_opt_u64(r, 12)?,
        status: col_str(r, 13)?,
    })
}

impl Tx<'_> {
    /// Whether the device key (hex) is, or was, an activation of the license (any model,
    /// any status: usage accrued before a deactivation is still billed).
    pub fn device_of_license(&self, license_id: u64, device_key: &str) -> Result<bool> {
        Ok(self
            .one(
                "SELECT 1 FROM activations WHERE license_id = ?1 AND device_key = ?2 LIMIT 1",
                &[int(license_id)?, text(device_key)],
                |_| Ok(()),
            )?
            .is_some())
    }

    /// The head of the device key's merged chain.
    pub fn usage_head(&self, device_key: &str) -> Result<Option<ChainHead>> {
        self.one(
            &format!(
                "SELECT head_seq, head_hash FROM usage_chains WHERE device_key = ?1{}",
                self.lock()
            ),
            &[text(device_key)],
            |r| {
                Ok(ChainHead {
                    seq: col_u64(r, 0)?,
                    hash: col_str(r, 1)?,
                })
            },
        )
    }

    pub fn set_usage_head(
        &self,
        device_key: &str,
        license_id: u64,
        head: &ChainHead,
        now: u64,
    ) -> Result<()> {
        let n = self.exec(
            "UPDATE usage_chains SET head_seq = ?2, head_hash = ?3, updated_at = ?4 \
             WHERE device_key = ?1",
            &[
                text(device_key),
                int(head.seq)?,
                text(&head.hash),
                int(now)?,
            ],
        )?;
        if n == 0 {
            self.exec(
                "INSERT INTO usage_chains (device_key, license_id, head_seq, head_hash, \
                 updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                &[
                    text(device_key),
                    int(license_id)?,
                    int(head.seq)?,
                    text(&head.hash),
                    int(now)?,
                ],
            )?;
        }
        Ok(())
    }

    /// The hash merged at `seq` of the device's chain, if any.
    pub fn merged_hash_at(&self, device_key: &str, seq: u64) -> Result<Option<String>> {
        self.one(
            "SELECT hash FROM usage_reports WHERE device_key = ?1 AND seq = ?2 \
             AND verdict = 'merged'",
            &[text(device_key), int(seq)?],
            |r| col_str(r, 0),
        )
    }

    /// The stored report (device key, seq, hash), if any.
    pub fn usage_report(
        &self,
        device_key: &str,
        seq: u64,
        hash: &str,
    ) -> Result<Option<UsageReportRow>> {
        self.one(
            &format!("{REPORT_COLS} WHERE device_key = ?1 AND seq = ?2 AND hash = ?3"),
            &[text(device_key), int(seq)?, text(hash)],
            report_row,
        )
    }

    pub fn insert_usage_report(&self, r: &UsageReportRow) -> Result<()> {
        self.exec(
            "INSERT INTO usage_reports (device_key, seq, hash, license_id, prev_hash, \
             created_at, received_at, verdict, armored) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            &[
                text(&r.device_key),
                int(r.seq)?,
                text(&r.hash),
                int(r.license_id)?,
                text(&r.prev_hash),
                int(r.created_at)?,
                int(r.received_at)?,
                text(&r.verdict),
                text(&r.armored),
            ],
        )?;
        Ok(())
    }

    pub fn set_report_verdict(
        &self,
        device_key: &str,
        seq: u64,
        hash: &str,
        verdict: &str,
    ) -> Result<()> {
        self.exec(
            "UPDATE usage_reports SET verdict = ?4 WHERE device_key = ?1 AND seq = ?2 \
             AND hash = ?3",
            &[text(device_key), int(seq)?, text(hash), text(verdict)],
        )?;
        Ok(())
    }

    /// Adds `units` to a total (creating it).
    pub fn add_usage_total(
        &self,
        license_id: u64,
        feature: &str,
        period: &str,
        period_start: u64,
        units: u64,
        now: u64,
    ) -> Result<()> {
        let key = [
            int(license_id)?,
            text(feature),
            text(period),
            int(period_start)?,
        ];
        let cur = self.one(
            "SELECT units FROM usage_totals WHERE license_id = ?1 AND feature = ?2 \
             AND period = ?3 AND period_start = ?4",
            &key,
            |r| col_u64(r, 0),
        )?;
        match cur {
            Some(cur) => {
                let sum = cur
                    .checked_add(units)
                    .filter(|s| to_i64(*s).is_ok())
                    .ok_or_else(|| AuthorityError::invalid("usage total exceeds 2^63 - 1"))?;
                let mut p = key.to_vec();
                p.push(int(sum)?);
                p.push(int(now)?);
                self.exec(
                    "UPDATE usage_totals SET units = ?5, reports = reports + 1, updated_at = ?6 \
                     WHERE license_id = ?1 AND feature = ?2 AND period = ?3 \
                     AND period_start = ?4",
                    &p,
                )?;
            }
            None => {
                let mut p = key.to_vec();
                p.push(int(units)?);
                p.push(int(now)?);
                self.exec(
                    "INSERT INTO usage_totals (license_id, feature, period, period_start, \
                     units, reports, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6)",
                    &p,
                )?;
            }
        }
        Ok(())
    }

    pub fn usage_totals(&self, f: &RowFilter) -> Result<Vec<TotalRow>> {
        let (w, vals) = f.clause("period_start")?;
        self.all(
            &format!(
                "SELECT license_id, feature, period, period_start, units, reports, updated_at \
                 FROM usage_totals{w} ORDER BY license_id, feature, period, period_start"
            ),
            &vals,
            |r| {
                Ok(TotalRow {
                    license_id: col_u64(r, 0)?,
                    feature: col_str(r, 1)?,
                    period: col_str(r, 2)?,
                    period_start: col_u64(r, 3)?,
                    units: col_u64(r, 4)?,
                    reports: col_u64(r, 5)?,
                    updated_at: col_u64(r, 6)?,
                })
            },
        )
    }

    /// Whether an unresolved flag exists for the report.
    pub fn open_flag(&self, device_key: &str, seq: u64, hash: &str) -> Result<Option<String>> {
        self.one(
            "SELECT verdict FROM usage_flags WHERE device_key = ?1 AND seq = ?2 AND hash = ?3 \
             AND resolved_at IS NULL",
            &[text(device_key), int(seq)?, text(hash)],
            |r| col_str(r, 0),
        )
    }

    pub fn insert_usage_flag(&self, f: &FlagRow) -> Result<()> {
        self.exec(
            "INSERT INTO usage_flags (id, license_id, device_key, seq, hash, verdict, detail, \
             flagged_at, resolved_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL)",
            &[
                int(f.id)?,
                int(f.license_id)?,
                text(&f.device_key),
                int(f.seq)?,
                text(&f.hash),
                text(&f.verdict),
                text(&f.detail),
                int(f.flagged_at)?,
            ],
        )?;
        Ok(())
    }

    /// Marks the report's open link flags (gap, fork, rewritten) resolved with `resolution`
    /// (`merged`: it was merged after all; `accepted`: the vendor merged it).
    pub fn resolve_usage_flags(
        &self,
        device_key: &str,
        seq: u64,
        hash: &str,
        now: u64,
        resolution: &str,
    ) -> Result<()> {
        self.exec(
            "UPDATE usage_flags SET resolved_at = ?4, resolution = ?5 WHERE device_key = ?1 \
             AND seq = ?2 AND hash = ?3 AND resolved_at IS NULL AND verdict <> 'not_metered'",
            &[
                text(device_key),
                int(seq)?,
                text(hash),
                int(now)?,
                text(resolution),
            ],
        )?;
        Ok(())
    }

    /// Open flags of the license's device key at `seq` (any hash, any verdict), oldest first.
    pub fn open_flags_at(
        &self,
        license_id: u64,
        device_key: &str,
        seq: u64,
    ) -> Result<Vec<FlagRow>> {
        self.all(
            &format!(
                "{FLAG_COLS} WHERE license_id = ?1 AND device_key = ?2 AND seq = ?3 \
                 AND resolved_at IS NULL ORDER BY id"
            ),
            &[int(license_id)?, text(device_key), int(seq)?],
            flag_row,
        )
    }

    /// Whether the vendor dismissed a flag of this very report (device key, seq, hash) and
    /// none of its flags is open.
    pub fn usage_dismissed(&self, device_key: &str, seq: u64, hash: &str) -> Result<bool> {
        if self.open_flag(device_key, seq, hash)?.is_some() {
            return Ok(false);
        }
        Ok(self
            .one(
                "SELECT 1 FROM usage_flags WHERE device_key = ?1 AND seq = ?2 AND hash = ?3 \
                 AND resolution = 'dismissed' LIMIT 1",
                &[text(device_key), int(seq)?, text(hash)],
                |r| col_u64(r, 0),
            )?
            .is_some())
    }

    /// Marks one flag resolved by the vendor; `false` if it already was.
    pub fn resolve_flag(&self, id: u64, resolution: &str, now: u64) -> Result<bool> {
        Ok(self.exec(
            "UPDATE usage_flags SET resolved_at = ?2, resolution = ?3 WHERE id = ?1 \
             AND resolved_at IS NULL",
            &[int(id)?, int(now)?, text(resolution)],
        )? == 1)
    }

    /// Flags, oldest first; the time filter applies to when they were raised.
    pub fn usage_flags(&self, f: &RowFilter, open_only: bool) -> Result<Vec<FlagRow>> {
        let (mut w, vals) = f.clause("flagged_at")?;
        if open_only {
            w = if w.is_empty() {
                " WHERE resolved_at IS NULL".into()
            } else {
                format!("{w} AND resolved_at IS NULL")
            };
        }
        self.all(&format!("{FLAG_COLS}{w} ORDER BY id"), &vals, flag_row)
    }

    pub fn insert_outbox(&self, o: &OutboxRow) -> Result<()> {
        self.exec(
            "INSERT INTO usage_outbox (identifier, license_id, feature, period, period_start, \
             device_key, seq, units, created_at, attempts, next_attempt_at, last_error, \
             sent_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?10, NULL, NULL)",
            &[
                text(&o.identifier),
                int(o.license_id)?,
                text(&o.feature),
                text(&o.period),
                int(o.period_start)?,
                text(&o.device_key),
                int(o.seq)?,
                int(o.units)?,
                int(o.created_at)?,
                int(o.next_attempt_at)?,
            ],
        )?;
        Ok(())
    }

    /// Unsent rows due at `now`, oldest first.
    pub fn outbox_due(&self, now: u64, limit: u32) -> Result<Vec<OutboxRow>> {
        self.all(
            &format!(
                "{OUTBOX_COLS} WHERE status = 'pending' AND next_attempt_at <= ?1 \
                 ORDER BY created_at, identifier LIMIT ?2"
            ),
            &[int(now)?, Val::Int(i64::from(limit))],
            outbox_row,
        )
    }

    /// Takes the unsent rows due at `now` (at most `limit`, oldest first) for one sender:
    /// their next attempt moves to `until`, so another sender (a second replica) does not take
    /// them meanwhile. Locked on PostgreSQL until the transaction ends.
    pub fn outbox_claim(&self, now: u64, limit: u32, until: u64) -> Result<Vec<OutboxRow>> {
        let rows = self.all(
            &format!(
                "{OUTBOX_COLS} WHERE status = 'pending' AND next_attempt_at <= ?1 \
                 ORDER BY created_at, identifier LIMIT ?2{}",
                self.lock()
            ),
            &[int(now)?, Val::Int(i64::from(limit))],
            outbox_row,
        )?;
        for r in &rows {
            self.exec(
                "UPDATE usage_outbox SET next_attempt_at = ?2 WHERE identifier = ?1",
                &[text(&r.identifier), int(until)?],
            )?;
        }
        Ok(rows)
    }

    /// Every row of a license (or all), oldest first.
    pub fn outbox_rows(&self, f: &RowFilter) -> Result<Vec<OutboxRow>> {
        let (w, vals) = f.clause("period_start")?;
        self.all(
            &format!("{OUTBOX_COLS}{w} ORDER BY created_at, identifier"),
            &vals,
            outbox_row,
        )
    }

    /// Marks a row sent; `false` if it was already sent (or is unknown).
    pub fn outbox_sent(&self, identifier: &str, now: u64) -> Result<bool> {
        Ok(self.exec(
            "UPDATE usage_outbox SET sent_at = ?2, attempts = attempts + 1, last_error = NULL, \
             status = 'sent' WHERE identifier = ?1 AND status = 'pending'",
            &[text(identifier), int(now)?],
        )? == 1)
    }

    /// Records a failed attempt and when to try again.
    pub fn outbox_failed(&self, identifier: &str, error: &str, retry_at: u64) -> Result<()> {
        self.exec(
            "UPDATE usage_outbox SET attempts = attempts + 1, last_error = ?2, \
             next_attempt_at = ?3 WHERE identifier = ?1 AND status = 'pending'",
            &[text(identifier), text(error), int(retry_at)?],
        )?;
        Ok(())
    }

    /// Ends a pending row without sending it: `status` is `unbillable` or `expired`, `why`
    /// says why; `false` if it was not pending.
    pub fn outbox_close(&self, identifier: &str, status: &str, why: &str) -> Result<bool> {
        Ok(self.exec(
            "UPDATE usage_outbox SET status = ?2, last_error = ?3 WHERE identifier = ?1 \
             AND status = 'pending'",
            &[text(identifier), text(status), text(why)],
        )? == 1)
    }

    /// Stored reports of a license (or all), by device and sequence.
    pub fn usage_reports(&self, license_id: Option<u64>) -> Result<Vec<UsageReportRow>> {
        match license_id {
            Some(l) => self.all(
                &format!("{REPORT_COLS} WHERE license_id = ?1 ORDER BY device_key, seq, hash"),
                &[int(l)?],
                report_row,
            ),
            None => self.all(
                &format!("{REPORT_COLS} ORDER BY device_key, seq, hash"),
                &[],
                report_row,
            ),
        }
    }
}
