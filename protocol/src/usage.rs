//! Metered usage reports (issue 15): a host sends its signed, hash-chained usage reports
//! (`TGUR`, `core/SPEC.md` §10c) to the online service, which judges each against the chain it
//! holds for the host's device key and merges only the links that extend it.
//!
//! [`UsageVerdictName::Merged`], [`UsageVerdictName::Duplicate`] and
//! [`UsageVerdictName::Dismissed`] let the host drop a report; a report flagged as a gap, a
//! fork or a rewritten history stays on the host and is sent (or exported in the usage
//! journal) again until the vendor resolves it: accepted, it is merged (a duplicate when sent
//! again); dismissed, it is never billed and answers `dismissed`. Refusals of the
//! whole submission are the usual error envelope ([`crate::error`]) with the service's codes.

use serde::{Deserialize, Serialize};

/// `POST /v1/usage`: [`UsageSubmission`] in, [`UsageReceipt`] out.
pub const USAGE: &str = "/v1/usage";

/// `{"reports": ["TGUR:…", …]}`: the host's unacknowledged reports, in `seq` order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsageSubmission {
    /// The armored usage reports, in `seq` order.
    pub reports: Vec<String>,
}

/// What the service made of one report.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageVerdictName {
    /// `"merged"`: the report extended the chain; its units are counted.
    Merged,
    /// `"duplicate"`: the same report was merged before; nothing changed.
    Duplicate,
    /// `"gap"`: reports are missing before this one; kept and flagged, not merged.
    Gap,
    /// `"fork"`: another report was merged on the same predecessor; kept and flagged.
    Fork,
    /// `"rewritten"`: another report was merged at this `seq`; kept and flagged.
    Rewritten,
    /// `"dismissed"`: the vendor dismissed this flagged report; it is never billed and the host
    /// drops it (its units are lost, by the vendor's decision).
    Dismissed,
}

impl UsageVerdictName {
    /// Whether the host may drop the report: it is merged (now or before) or dismissed.
    pub const fn is_settled(self) -> bool {
        matches!(
            self,
            UsageVerdictName::Merged | UsageVerdictName::Duplicate | UsageVerdictName::Dismissed
        )
    }

    /// The JSON name, e.g. `"fork"`.
    pub const fn name(self) -> &'static str {
        match self {
            UsageVerdictName::Merged => "merged",
            UsageVerdictName::Duplicate => "duplicate",
            UsageVerdictName::Gap => "gap",
            UsageVerdictName::Fork => "fork",
            UsageVerdictName::Rewritten => "rewritten",
            UsageVerdictName::Dismissed => "dismissed",
        }
    }
}

/// The verdict on one report of a submission.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageResult {
    /// The report's sequence number.
    pub seq: u64,
    /// What the service made of it.
    pub verdict: UsageVerdictName,
}

/// The answer of `POST /v1/usage`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageReceipt {
    /// The license the reports are under.
    pub license_id: u64,
    /// The reporting device key, lower-case hex (64 characters).
    pub device_key: String,
    /// The highest `seq` merged (now or before) for this device key; 0 if none. The host drops
    /// every report up to it.
    pub merged_through: u64,
    /// The hash of the report merged at `merged_through`, lower-case hex (absent when none is
    /// merged). A host whose every report of the submission was dismissed continues its chain
    /// from here (`seq` `merged_through` + 1, `prev_hash` this hash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head_hash: Option<String>,
    /// One verdict per submitted report, in submission order.
    pub results: Vec<UsageResult>,
}
