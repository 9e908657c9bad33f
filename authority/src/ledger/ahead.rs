//! Reading ahead for a group of fulfilments on PostgreSQL.
//!
//! Every statement to PostgreSQL costs a round trip to the server, and a usage request needs
//! about a dozen: on a busy machine the group-commit writer would spend its time waiting on
//! them. [`Tx::read_ahead`] reads, for every request of a group, what
//! `fulfilment::fulfil_in` is going to read — the license row (taking its row lock, in a
//! fixed order so that two writers cannot deadlock), its revision, the device's activations,
//! an earlier answer to the same request, the seat count and the last freed seat — in two
//! pipelined round trips, and reserves blocks of ids from the `sequences` table. The writes
//! of the group are then deferred and sent together with the commit (`Conn::exec_deferred`).
//!
//! The rows stay exact for the rest of the transaction: the license is locked, and each write
//! of this transaction that changes a row read ahead updates or forgets it (an inserted
//! activation adds its seat to the count and forgets the device's list; a stored usage license
//! forgets the request's answer; a freed seat, a status change or a rolled-back savepoint
//! forget every row, which are then read from the database again). Reserved ids are not
//! returned when a request is refused: ids stay unique and increasing, with gaps.

use std::collections::{BTreeSet, HashMap};

use tollgate_core::hex_string;
use tollgate_storage::Val;

use super::{
    col_u64, device_activation_row, device_activations_sql, key_row, last_freed_row, revision_row,
    to_i64, usage_by_request_sql, usage_row, Dialect, LicenseRow, RevisionRow, Tx, UsageRow,
    COUNT_ACTIVE_SQL, KEY_COLUMNS, LAST_FREED_SQL, REVISION_SQL,
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

impl Tx<'_> {
    /// Reads ahead what fulfilling `wanted` will read, and reserves ids for it: on PostgreSQL
    /// in a write transaction only (SQLite has no round trips to save). Call it before the
    /// first savepoint.
    pub(crate) fn read_ahead(&self, wanted: &[Wanted]) -> Result<()> {
        if self.dialect != Dialect::Postgres || !self.write || wanted.is_empty() {
            return Ok(());
        }
        let n = to_i64(wanted.len() as u64)?;
        // Round trip 1: the license rows, locked in a fixed order; the active key; ids.
        let lookups: Vec<[u8; 8]> = wanted
            .iter()
            .map(|w| w.lookup)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let license_sql = self.license_by_lookup_sql();
        let key_sql = format!("SELECT {KEY_COLUMNS} FROM signing_keys WHERE status = 'active'");
        let reserve_sql = "UPDATE sequences SET value = value + ?2 WHERE name = ?1 RETURNING value";
        let mut queries: Vec<(&str, Vec<Val>)> = lookups
            .iter()
            .map(|l| (license_sql.as_str(), vec![Val::Text(hex_string(l))]))
            .collect();
        queries.push((key_sql.as_str(), Vec::new()));
        for seq in RESERVED {
            queries.push((reserve_sql, vec![Val::Text(seq.to_owned()), Val::Int(n)]));
        }
        let answers = self.conn.borrow_mut().query_many(&queries)?;
        let mut ahead = ReadAhead::default();
        let mut answers = answers.into_iter();
        for lookup in &lookups {
            let rows = answers
                .next()
                .ok_or(AuthorityError::Corrupt("missing answer"))?;
            let row = rows.first().map(Tx::license_row).transpose()?;
            ahead.licenses.insert(*lookup, row);
        }
        let key_rows = answers
            .next()
            .ok_or(AuthorityError::Corrupt("missing answer"))?;
        let key = key_rows.first().map(key_row).transpose()?;
        self.active_key.replace(Some(key));
        for seq in RESERVED {
            let rows = answers
                .next()
                .ok_or(AuthorityError::Corrupt("missing answer"))?;
            let last = rows
                .first()
                .map(|r| col_u64(r, 0))
                .transpose()?
                .ok_or(AuthorityError::Corrupt("missing sequence"))?;
            let first = last
                .checked_sub(wanted.len() as u64 - 1)
                .ok_or(AuthorityError::Corrupt("sequence out of range"))?;
            ahead.ids.insert(seq, (first, last));
        }

        // Round trip 2: what each request reads of its license.
        let licenses: Vec<(u64, u32)> = ahead
            .licenses
            .values()
            .flatten()
            .map(|l| (l.id, l.revision))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let device_sql = device_activations_sql();
        let usage_sql = usage_by_request_sql();
        let mut queries: Vec<(&str, Vec<Val>)> = Vec::new();
        for (id, revision) in &licenses {
            let id = to_i64(*id)?;
            queries.push((
                REVISION_SQL,
                vec![Val::Int(id), Val::Int(i64::from(*revision))],
            ));
            queries.push((COUNT_ACTIVE_SQL, vec![Val::Int(id)]));
            queries.push((LAST_FREED_SQL, vec![Val::Int(id)]));
        }
        let mut devices = BTreeSet::new();
        let mut requests = BTreeSet::new();
        for w in wanted {
            if let Some(Some(l)) = ahead.licenses.get(&w.lookup) {
                devices.insert((l.id, w.device_key));
                requests.insert((l.id, w.request_id));
            }
        }
        for (id, device) in &devices {
            queries.push((
                device_sql.as_str(),
                vec![Val::Int(to_i64(*id)?), Val::Text(hex_string(device))],
            ));
        }
        for (id, request) in &requests {
            queries.push((
                usage_sql.as_str(),
                vec![Val::Text(hex_string(request)), Val::Int(to_i64(*id)?)],
            ));
        }
        let answers = self.conn.borrow_mut().query_many(&queries)?;
        let mut answers = answers.into_iter();
        let mut next = || {
            answers
                .next()
                .ok_or(AuthorityError::Corrupt("missing answer"))
        };
        for (id, revision) in &licenses {
            if let Some(r) = next()?.first() {
                ahead.revisions.insert((*id, *revision), revision_row(r)?);
            }
            let count = next()?.first().map(|r| col_u64(r, 0)).transpose()?;
            ahead.active_counts.insert(*id, count.unwrap_or(0));
            let freed = next()?.first().map(last_freed_row).transpose()?;
            ahead.last_freed.insert(*id, freed);
        }
        for key in devices {
            let rows = next()?
                .iter()
                .map(device_activation_row)
                .collect::<Result<Vec<_>>>()?;
            ahead.devices.insert(key, rows);
        }
        for key in requests {
            let row = next()?.first().map(usage_row).transpose()?;
            ahead.usages.insert(key, row);
        }
        self.ahead.replace(ahead);
        Ok(())
    }
}
