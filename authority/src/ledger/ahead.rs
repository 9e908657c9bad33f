//! Reading ahead for a group of fulfilments on PostgreSQL.
//!
//! Every statement to PostgreSQL costs a round trip to the server, and a usage request needs
//! about a dozen: on a busy machine the group-commit writer would spend its time waiting on
//! them. [`Tx::read_ahead`] reads, for every request of a group, what
//! `fulfilment::fulfil_in` is going to read — the license row (taking its row lock, in a
//! fixed order so that two writers cannot deadlock), its revision, the device's activations,
//! an earlier answer to the same request, the seat count and the last freed seat — and
//! reserves blocks of ids from the `sequences` table, all in **one** pipelined round trip:
//! the reads name their license by its lookup id, so they need not wait for the locking
//! statement's answer, and the server runs them after it, once the lock is held. The devices
//! and requests of one license are read with one statement each (`= ANY (…)`). The writes of
//! the group are then deferred and sent together with the commit (`Conn::exec_deferred`), and
//! the seats taken are added to the license's count once (`Tx::write_seats`).
//!
//! The statements that look up by primary or unique key, or probe one index that no other
//! index could stand in for, run under the generic plan made once per connection
//! (`GENERIC_PLAN`): planning every read anew for every group was a quarter of PostgreSQL's
//! CPU (README, "When one machine is not enough"). The devices' statement is planned for its
//! values each time: all four indexes of `activations` start with the license, and a generic
//! plan made on a new ledger picked one that scans the license's every activation. The
//! license lock is custom-planned too (it is cheap to plan), so that the custom statements
//! come first and the plan mode switches once per group.
//!
//! The rows stay exact for the rest of the transaction: the license is locked, and each write
//! of this transaction that changes a row read ahead updates or forgets it (an inserted
//! activation adds its seat to the count and forgets the device's list; a stored usage license
//! forgets the request's answer; a freed seat, a status change or a rolled-back savepoint
//! forget every row, which are then read from the database again). Reserved ids are not
//! returned when a request is refused: ids stay unique and increasing, with gaps.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use tollgate_core::hex_string;
use tollgate_storage::{Val, GENERIC_PLAN};

use super::{
    col_u64, device_activation_row, key_row, last_freed_row, revision_row, to_i64, usage_row,
    Dialect, LicenseRow, RevisionRow, Tx, UsageRow, ACTIVATION_COLUMNS, KEY_COLUMNS, USAGE_COLUMNS,
};
use crate::error::{AuthorityError, Result};
use crate::records::{Activation, ActivationStatus};

/// What one request of a group will read: its key lookup id, device key and request id.
pub(crate) struct Wanted {
    pub lookup: [u8; 8],
    pub device_key: [u8; 32],
    pub request_id: [u8; 16],
}

/// A device's activations of a license, each with the counter of its deactivation code.
type DeviceActivations = Vec<(Activation, Option<u32>)>;

/// The rows read ahead in one transaction. Empty unless [`Tx::read_ahead`] ran.
#[derive(Default)]
pub(crate) struct ReadAhead {
    pub licenses: HashMap<[u8; 8], Option<LicenseRow>>,
    pub revisions: HashMap<(u64, u32), RevisionRow>,
    pub devices: HashMap<(u64, [u8; 32]), DeviceActivations>,
    pub usages: HashMap<(u64, [u8; 16]), Option<UsageRow>>,
    pub active_counts: HashMap<u64, u64>,
    pub last_freed: HashMap<u64, Option<(u64, u64)>>,
    /// Reserved ids per sequence: the next one and the last one.
    ids: HashMap<&'static str, (u64, u64)>,
}

impl ReadAhead {
    /// Forgets every row read ahead (the reserved ids stay reserved).
    pub fn forget_rows(&mut self) {
        let ids = std::mem::take(&mut self.ids);
        *self = ReadAhead {
            ids,
            ..ReadAhead::default()
        };
    }

    /// The next reserved id of `sequence`, if any is left.
    pub fn take_id(&mut self, sequence: &str) -> Option<u64> {
        let (next, last) = self.ids.get_mut(sequence)?;
        if *next > *last {
            return None;
        }
        let id = *next;
        *next += 1;
        Some(id)
    }

    /// An activation of `license_id` for `device_key` was inserted.
    pub fn activation_inserted(
        &mut self,
        license_id: u64,
        device_key: &[u8; 32],
        status: ActivationStatus,
    ) {
        self.devices.remove(&(license_id, *device_key));
        if status == ActivationStatus::Active {
            if let Some(n) = self.active_counts.get_mut(&license_id) {
                *n += 1;
            }
        }
    }

    /// A usage license answering `request_id` was stored.
    pub fn usage_inserted(&mut self, request_id: &[u8; 16]) {
        self.usages.retain(|(_, r), _| r != request_id);
    }
}

/// The sequences whose ids a group of fulfilments reserves (one of each per request).
const RESERVED: [&str; 2] = ["activation", "audit"];

/// Reserves `?1` ids of each sequence of `RESERVED`; returns each one's name and last id.
/// Both id blocks in one statement; the rows are locked in key order (the primary key's
/// index), the same in every transaction.
const RESERVE_SQL: &str = "/* generic plan */ UPDATE sequences SET value = value + ?1 \
     WHERE name IN ('activation', 'audit') RETURNING name, value";

/// The license row of lookup id `?1`, locked, with its seat count (column 6).
const LOCK_SQL: &str = "SELECT id, key_auth, revision, status, max_transfers, \
     transfer_period_secs, active_activations FROM licenses WHERE key_lookup = ?1 FOR UPDATE";

/// The id of the license with lookup id `?1` (a subquery).
const LICENSE_ID_SQL: &str = "SELECT id FROM licenses WHERE key_lookup = ?1";

/// The current revision of the license with lookup id `?1`.
const REVISION_BY_LOOKUP_SQL: &str =
    "/* generic plan */ SELECT r.license_id, r.revision, r.grant_json, \
     r.armored, r.key_id, r.issued_at FROM license_revisions r \
     JOIN licenses l ON l.id = r.license_id AND l.revision = r.revision WHERE l.key_lookup = ?1";

/// The last freed seat of the license with lookup id `?1`.
const LAST_FREED_BY_LOOKUP_SQL: &str = "/* generic plan */ SELECT id, freed_at FROM activations \
     WHERE license_id = (SELECT id FROM licenses WHERE key_lookup = ?1) \
     AND freed_at IS NOT NULL ORDER BY freed_at DESC, id DESC LIMIT 1";

impl Tx<'_> {
    /// Reads ahead what fulfilling `wanted` will read, and reserves ids for it: on PostgreSQL
    /// in a write transaction only (SQLite has no round trips to save). Call it before the
    /// first savepoint.
    pub(crate) fn read_ahead(&self, wanted: &[Wanted]) -> Result<()> {
        if self.dialect != Dialect::Postgres || !self.write || wanted.is_empty() {
            return Ok(());
        }
        let n = to_i64(wanted.len() as u64)?;
        // One round trip. The license rows come first, locked in a fixed order; every read
        // after them names its license by lookup id (the license ids are not known yet) and,
        // at READ COMMITTED, runs on a snapshot taken after the locks were granted.
        let lookups: Vec<[u8; 8]> = wanted
            .iter()
            .map(|w| w.lookup)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut queries: Vec<(&str, Vec<Val>)> = lookups
            .iter()
            .map(|l| (LOCK_SQL, vec![Val::Text(hex_string(l))]))
            .collect();
        let device_sql = format!(
            "SELECT {ACTIVATION_COLUMNS}, freed_counter FROM activations \
             WHERE license_id = ({LICENSE_ID_SQL}) \
             AND device_key = ANY (string_to_array(?2, ','))"
        );
        // Probes the request-id index and checks each row's license by primary key: the
        // only plan there is, so it may be generic (a join here could be planned from the
        // license's every activation).
        let usage_sql = format!(
            "{GENERIC_PLAN}SELECT {USAGE_COLUMNS} FROM usage_licenses u \
             WHERE u.request_id = ANY (string_to_array(?2, ',')) \
             AND (SELECT a.license_id FROM activations a WHERE a.id = u.activation_id) \
             = ({LICENSE_ID_SQL})"
        );
        for lookup in &lookups {
            let l = hex_string(lookup);
            let of_license = |f: fn(&Wanted) -> String| {
                wanted
                    .iter()
                    .filter(|w| w.lookup == *lookup)
                    .map(f)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let devices = of_license(|w| hex_string(&w.device_key));
            let requests = of_license(|w| hex_string(&w.request_id));
            // The custom-planned statements first (the locks, then the devices), then the
            // generic ones: the plan mode switches once per batch (the writes that follow
            // are generic too).
            queries.push((
                device_sql.as_str(),
                vec![Val::Text(l.clone()), Val::Text(devices)],
            ));
            queries.push((REVISION_BY_LOOKUP_SQL, vec![Val::Text(l.clone())]));
            queries.push((LAST_FREED_BY_LOOKUP_SQL, vec![Val::Text(l.clone())]));
            queries.push((usage_sql.as_str(), vec![Val::Text(l), Val::Text(requests)]));
        }
        let key_sql =
            format!("{GENERIC_PLAN}SELECT {KEY_COLUMNS} FROM signing_keys WHERE status = 'active'");
        queries.push((key_sql.as_str(), Vec::new()));
        queries.push((RESERVE_SQL, vec![Val::Int(n)]));
        let answers = self.conn.borrow_mut().query_many(&queries)?;
        let mut answers = answers.into_iter();
        let mut next = || {
            answers
                .next()
                .ok_or(AuthorityError::Corrupt("missing answer"))
        };
        let mut ahead = ReadAhead::default();
        for lookup in &lookups {
            let row = match next()?.first() {
                Some(r) => {
                    let license = Tx::license_row(r)?;
                    ahead.active_counts.insert(license.id, col_u64(r, 6)?);
                    Some(license)
                }
                None => None,
            };
            ahead.licenses.insert(*lookup, row);
        }
        for lookup in &lookups {
            let (devices, revision, freed, usages) = (next()?, next()?, next()?, next()?);
            let Some(Some(license)) = ahead.licenses.get(lookup) else {
                continue;
            };
            let (id, current) = (license.id, license.revision);
            if let Some(r) = revision.first() {
                let r = revision_row(r)?;
                if (r.license_id, r.revision) != (id, current) {
                    return Err(AuthorityError::Corrupt(
                        "revision read ahead does not match",
                    ));
                }
                ahead.revisions.insert((id, current), r);
            }
            ahead
                .last_freed
                .insert(id, freed.first().map(last_freed_row).transpose()?);
            for w in wanted.iter().filter(|w| w.lookup == *lookup) {
                ahead.devices.insert((id, w.device_key), Vec::new());
                ahead.usages.insert((id, w.request_id), None);
            }
            for r in &devices {
                let (activation, freed) = device_activation_row(r)?;
                ahead
                    .devices
                    .entry((id, activation.device_key))
                    .or_default()
                    .push((activation, freed));
            }
            // In id order, as `Tx::activations_for_device` reads them (sorted here, so the
            // statement leaves the index nothing but its lookup to do).
            for list in ahead.devices.values_mut() {
                list.sort_by_key(|(a, _)| a.id);
            }
            for r in &usages {
                let u = usage_row(r)?;
                // The first row per request, as `Tx::usage_by_request` takes it.
                if let Some(slot @ None) = ahead.usages.get_mut(&(id, u.request_id)) {
                    *slot = Some(u);
                }
            }
        }
        let key = next()?.first().map(key_row).transpose()?;
        self.active_key.replace(Some(key));
        let blocks = next()?;
        for seq in RESERVED {
            let last = blocks
                .iter()
                .find(|r| matches!(r.get(0), Ok(Val::Text(name)) if name == seq))
                .map(|r| col_u64(r, 1))
                .transpose()?
                .ok_or(AuthorityError::Corrupt("missing sequence"))?;
            let first = last
                .checked_sub(wanted.len() as u64 - 1)
                .ok_or(AuthorityError::Corrupt("sequence out of range"))?;
            ahead.ids.insert(seq, (first, last));
        }
        self.ahead.replace(ahead);
        self.seats.replace(Some(BTreeMap::new()));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_read_ahead_statement_asks_for_a_generic_plan() {
        for sql in [
            RESERVE_SQL,
            REVISION_BY_LOOKUP_SQL,
            LAST_FREED_BY_LOOKUP_SQL,
        ] {
            assert!(sql.starts_with(GENERIC_PLAN), "{sql}");
        }
    }
}
