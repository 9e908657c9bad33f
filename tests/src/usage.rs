//! The metered-usage world of the vectors — the reference host's hash-chained usage reports
//! (`TGUR`, `core/SPEC.md` §10c) and a usage journal — and the `usage-report` and
//! `usage-journal` cases of `manifest.json` with their checker.
//!
//! The host is the reference host (device key `03…03`, license 1001) using the metered
//! feature `iot-bridge-snowflake` (monthly periods) in December 2025 and January 2026. The
//! malformed cases carry exactly one defect behind a valid signature: their payload is
//! encoded here by hand (an encoder independent of the core's), then signed raw.

use serde_json::{json, Value};
use tollgate_core::{
    armor, hex_string, parse_usage_journal, usage_journal_text, ArtifactType, Error, MeterPeriod,
    Result, UsageClaims, UsageEntry, UsageReport, MAX_USAGE_ENTRIES,
};

use crate::fixtures::{self as fx, sign_raw};
use crate::vectors::{field, Artifact, Case, Input};

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// The metered feature of the reference catalogue.
pub const METERED_FEATURE: &str = "iot-bridge-snowflake";
/// 2025-12-01T00:00:00Z: the start of the December period.
pub const T_DECEMBER: u64 = 1_764_547_200;
/// 2026-01-01T00:00:00Z: the start of the January period.
pub const T_JANUARY: u64 = 1_767_225_600;
/// When report 1 was cut: the reference `now`, 2026-01-15T12:00:00Z.
pub const T_REPORT_1: u64 = fx::T_NOW;
/// When report 2 was cut: a day later.
pub const T_REPORT_2: u64 = fx::T_NOW + 86_400;
/// When report 3 (a heartbeat, no usage) was cut: two days later.
pub const T_REPORT_3: u64 = fx::T_NOW + 2 * 86_400;

fn entry(period_start: u64, units: u64) -> UsageEntry {
    UsageEntry {
        feature: METERED_FEATURE.into(),
        period: MeterPeriod::Month,
        period_start,
        units,
    }
}

/// The claims of report 1: the last units of December and the first of January.
pub fn claims_1() -> UsageClaims {
    UsageClaims {
        license_id: fx::LICENSE_ID,
        device_key: fx::device_key().public_key(),
        seq: 1,
        prev_hash: [0; 32],
        created_at: T_REPORT_1,
        entries: vec![entry(T_DECEMBER, 250_000), entry(T_JANUARY, 120_000)],
    }
}

/// Report 1 of the reference host's chain.
pub fn report_1() -> Result<UsageReport> {
    UsageReport::create(claims_1(), &fx::device_key())
}

/// Report 2: more January units, chained on report 1.
pub fn report_2() -> Result<UsageReport> {
    let claims = UsageClaims {
        seq: 2,
        prev_hash: report_1()?.hash(),
        created_at: T_REPORT_2,
        entries: vec![entry(T_JANUARY, 3_000)],
        ..claims_1()
    };
    UsageReport::create(claims, &fx::device_key())
}

/// Report 3: a heartbeat link (no entries), chained on report 2.
pub fn report_3() -> Result<UsageReport> {
    let claims = UsageClaims {
        seq: 3,
        prev_hash: report_2()?.hash(),
        created_at: T_REPORT_3,
        entries: Vec::new(),
        ..claims_1()
    };
    UsageReport::create(claims, &fx::device_key())
}

/// The journal of reports 1–3, as the host writes it.
pub fn journal() -> Result<String> {
    Ok(usage_journal_text(&[report_1()?, report_2()?, report_3()?]))
}

// ---------------------------------------------------------------------------------------------
// A hand-written payload encoder (core/SPEC.md §5, §10c.1)
// ---------------------------------------------------------------------------------------------

fn varint(out: &mut Vec<u8>, mut n: u64) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

/// Header, then the payload of `c` laid out by §10c.1, with no check of its meaning.
fn unsigned(c: &UsageClaims) -> Vec<u8> {
    let mut out = vec![b'T', b'G', 0x08, 0x01];
    varint(&mut out, c.license_id);
    out.extend_from_slice(&c.device_key);
    varint(&mut out, c.seq);
    out.extend_from_slice(&c.prev_hash);
    varint(&mut out, c.created_at);
    varint(&mut out, c.entries.len() as u64);
    for e in &c.entries {
        varint(&mut out, e.feature.len() as u64);
        out.extend_from_slice(e.feature.as_bytes());
        varint(
            &mut out,
            match e.period {
                MeterPeriod::Day => 0,
                MeterPeriod::Month => 1,
                MeterPeriod::Year => 2,
            },
        );
        varint(&mut out, e.period_start);
        varint(&mut out, e.units);
    }
    out
}

/// `c` signed by the reference device key without the encoder's checks.
fn signed(c: &UsageClaims) -> Vec<u8> {
    sign_raw(ArtifactType::UsageReport, &fx::DEVICE_SEED, &unsigned(c))
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// A report as the manifest lists it: its claims and its hash.
pub fn render(r: &UsageReport) -> Value {
    let c = r.claims();
    json!({
        "license_id": c.license_id,
        "device_key": hex_string(&c.device_key),
        "seq": c.seq,
        "prev_hash": hex_string(&c.prev_hash),
        "created_at": c.created_at,
        "entries": c.entries.iter().map(|e| json!({
            "feature": e.feature,
            "period": e.period.name(),
            "period_start": e.period_start,
            "units": e.units,
        })).collect::<Vec<_>>(),
        "hash": hex_string(&r.hash()),
    })
}

/// The `usage-report` and `usage-journal` cases.
pub fn usage_cases(out: &mut Vec<Case>) -> Result<()> {
    use Artifact::{UsageJournal as J, UsageReport as R};
    use ArtifactType::UsageReport as T;
    let (r1, r2, r3) = (report_1()?, report_2()?, report_3()?);
    for (name, r, what) in [
        (
            "usage_report_1",
            &r1,
            "report 1 of the reference host's chain: prev_hash all zero, two periods",
        ),
        (
            "usage_report_2",
            &r2,
            "report 2, chained on report 1 by its hash",
        ),
        (
            "usage_report_3_heartbeat",
            &r3,
            "report 3, a heartbeat link with no entries",
        ),
    ] {
        out.push(
            Case::new(name, R, what)
                .artifact_bytes(T, r.as_bytes())
                .ok(render(r)),
        );
    }

    let bad = |name: &str, what: &str, c: UsageClaims, e: Error| {
        Case::new(name, R, what)
            .artifact_bytes(T, &signed(&c))
            .err(e)
    };
    let base = claims_1();
    out.push(bad(
        "usage_report_seq_0",
        "sequence number 0, validly signed",
        UsageClaims {
            seq: 0,
            ..base.clone()
        },
        Error::UsageChainStart,
    ));
    out.push(bad(
        "usage_report_first_with_prev_hash",
        "report 1 naming a previous report",
        UsageClaims {
            prev_hash: [0x11; 32],
            ..base.clone()
        },
        Error::UsageChainStart,
    ));
    out.push(bad(
        "usage_report_later_without_prev_hash",
        "report 2 with an all-zero previous hash",
        UsageClaims {
            seq: 2,
            ..base.clone()
        },
        Error::UsageChainStart,
    ));
    out.push(bad(
        "usage_report_too_many_entries",
        "17 entries, one over the limit",
        UsageClaims {
            entries: (0..=MAX_USAGE_ENTRIES as u64)
                .map(|i| entry(T_JANUARY + i, 1))
                .collect(),
            ..base.clone()
        },
        Error::UsageTooManyEntries,
    ));
    out.push(bad(
        "usage_report_duplicate_entry",
        "the same feature and period start twice",
        UsageClaims {
            entries: vec![entry(T_JANUARY, 1), entry(T_JANUARY, 2)],
            ..base.clone()
        },
        Error::UsageDuplicateEntry,
    ));
    out.push(bad(
        "usage_report_unsorted_entries",
        "January before December",
        UsageClaims {
            entries: vec![entry(T_JANUARY, 1), entry(T_DECEMBER, 2)],
            ..base.clone()
        },
        Error::UsageBadEntry,
    ));
    out.push(bad(
        "usage_report_zero_units",
        "an entry counting zero units",
        UsageClaims {
            entries: vec![entry(T_JANUARY, 0)],
            ..base.clone()
        },
        Error::UsageBadEntry,
    ));
    let mut upper = entry(T_JANUARY, 1);
    upper.feature = "IoT-Bridge".into();
    out.push(bad(
        "usage_report_bad_feature_name",
        "an entry whose feature name has upper-case letters",
        UsageClaims {
            entries: vec![upper],
            ..base.clone()
        },
        Error::UsageBadEntry,
    ));
    // The valid claims with the first entry's period byte (right after the feature name)
    // rewritten from `01` (month) to `03`, which names no period.
    let mut bad_period = unsigned(&base);
    let at = find(&bad_period, METERED_FEATURE.as_bytes())? + METERED_FEATURE.len();
    if let Some(b) = bad_period.get_mut(at) {
        *b = 3;
    }
    out.push(
        Case::new(
            "usage_report_bad_period",
            R,
            "an entry with period variant 3 (there are three periods: 0-2)",
        )
        .artifact_bytes(T, &sign_raw(T, &fx::DEVICE_SEED, &bad_period))
        .err(Error::Malformed),
    );

    // Claims naming the reference device key, signed by another device's key.
    let forged = sign_raw(T, &fx::OTHER_DEVICE_SEED, &unsigned(&base));
    out.push(
        Case::new(
            "usage_report_forged",
            R,
            "the reference claims signed by another device's key",
        )
        .artifact_bytes(T, &forged)
        .err(Error::BadSignature),
    );
    // Report 1 with its January units raised from 120000 to 120001 after signing.
    let mut tampered = r1.as_bytes().to_vec();
    let units = {
        let mut v = Vec::new();
        varint(&mut v, 120_000);
        v
    };
    let at = find(&tampered, &units)?;
    if let Some(b) = tampered.get_mut(at) {
        *b ^= 0x01;
    }
    out.push(
        Case::new(
            "usage_report_units_raised",
            R,
            "report 1 with one more January unit than it was signed with",
        )
        .artifact_bytes(T, &tampered)
        .err(Error::BadSignature),
    );
    let cut = r1.as_bytes().len() - 64 - 3;
    let mut truncated = r1.as_bytes()[..cut].to_vec();
    truncated.extend_from_slice(&r1.as_bytes()[r1.as_bytes().len() - 64..]);
    out.push(
        Case::new(
            "usage_report_truncated_payload",
            R,
            "report 1 with the last 3 payload bytes removed (the signature kept)",
        )
        .artifact_bytes(T, &truncated)
        .err(Error::Truncated),
    );

    // Journals.
    let text = journal()?;
    out.push(
        Case::new(
            "usage_journal",
            J,
            "the journal of reports 1-3: a comment line, then one armored report a line",
        )
        .text(text.clone())
        .ok(json!({ "reports": [render(&r1), render(&r2), render(&r3)] })),
    );
    let spaced = format!(
        "# usage of broker-1\r\n\r\n  {}  \r\n# next\r\n{}\r\n",
        r1.to_armor(),
        r2.to_armor()
    );
    out.push(
        Case::new(
            "usage_journal_crlf_comments",
            J,
            "CRLF line ends, blank and comment lines, surrounding blanks: all ignored",
        )
        .text(spaced)
        .ok(json!({ "reports": [render(&r1), render(&r2)] })),
    );
    let mut damaged = r2.to_armor();
    damaged.truncate(damaged.len() - 4);
    out.push(
        Case::new(
            "usage_journal_damaged_line",
            J,
            "report 2's line lost its last 4 characters: the error names line 3",
        )
        .text(format!(
            "# tollgate usage journal\n{}\n{}\n{}\n",
            r1.to_armor(),
            damaged,
            r3.to_armor()
        ))
        .inputs(json!({ "error_line": 3 }))
        .err(Error::ArmorChecksum),
    );
    out.push(
        Case::new(
            "usage_journal_foreign_artifact",
            J,
            "a deactivation code among the reports: the error names line 2",
        )
        .text(format!(
            "{}\n{}\n",
            r1.to_armor(),
            fx::deactivation_code()?.to_armor()
        ))
        .inputs(json!({ "error_line": 2 }))
        .err(Error::WrongArtifactType),
    );
    out.push(
        Case::new("usage_journal_forged_line", J, "a forged report on line 1")
            .text(format!("{}\n", armor::encode(T, &forged)))
            .inputs(json!({ "error_line": 1 }))
            .err(Error::BadSignature),
    );
    Ok(())
}

fn find(haystack: &[u8], needle: &[u8]) -> Result<usize> {
    haystack
        .windows(needle.len())
        .position(|w| w == needle)
        .ok_or(Error::Malformed)
}

/// Runs a `usage-report` case (`UsageReport::from_armor` / `decode`) or a `usage-journal` case
/// (`parse_usage_journal`; on failure, `inputs.error_line` must be the line it names).
pub fn run(
    artifact: Artifact,
    input: Input<'_>,
    inputs: &Value,
) -> std::result::Result<std::result::Result<Value, Error>, String> {
    Ok(match (artifact, input) {
        (Artifact::UsageReport, Input::Text(t)) => UsageReport::from_armor(t).map(|r| render(&r)),
        (Artifact::UsageReport, Input::Binary(b)) => UsageReport::decode(b).map(|r| render(&r)),
        (Artifact::UsageJournal, Input::Text(t)) => match parse_usage_journal(t) {
            Ok(reports) => Ok(json!({ "reports": reports.iter().map(render).collect::<Vec<_>>() })),
            Err(e) => {
                let want = field(inputs, "error_line")?
                    .as_u64()
                    .ok_or("inputs.error_line is not an integer")?;
                if e.line as u64 != want {
                    return Err(format!("error on line {}, expected line {want}", e.line));
                }
                Err(e.error)
            }
        },
        (a, i) => return Err(format!("no operation for {} on {i:?}", a.name())),
    })
}
