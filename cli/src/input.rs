//! Reading artifacts from a file, from standard input or from the argument itself.

use std::io::Read;

use crate::exit::Failure;

/// Resolves an artifact argument: `-` or nothing reads standard input, an existing file path
/// reads that file, anything else is taken as the artifact text itself.
pub fn artifact(arg: Option<&str>) -> Result<String, Failure> {
    match arg {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::io("cannot read standard input", &e))?;
            Ok(s)
        }
        Some(a) if looks_like_artifact(a) => Ok(a.to_string()),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::io(&format!("cannot read {path}"), &e)),
    }
}

fn looks_like_artifact(s: &str) -> bool {
    tollgate_core::ArtifactType::sniff(s).is_ok()
}

/// Parses `YYYY-MM-DD` (UTC midnight) or a Unix time in seconds.
pub fn parse_time(s: &str) -> Result<u64, Failure> {
    if let Ok(n) = s.parse::<u64>() {
        return Ok(n);
    }
    let bad = || Failure::usage(format!("`{s}` is not a date (YYYY-MM-DD) or Unix seconds"));
    let mut parts = s.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    let (y, m, d): (i64, u32, u32) = (
        y.parse().map_err(|_| bad())?,
        m.parse().map_err(|_| bad())?,
        d.parse().map_err(|_| bad())?,
    );
    // Years past 9999 parse (the vendor then refuses them with 332, SPEC.md §1); the bound
    // only keeps the arithmetic in range.
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || !(1970..=1_000_000_000).contains(&y) {
        return Err(bad());
    }
    let days = tollgate_sdk::time::days_from_civil(y, m, d);
    u64::try_from(days * 86_400).map_err(|_| bad())
}
