//! Reading artifacts from a file, from standard input or from the argument itself.

use std::io::Read;

use crate::exit::Failure;

/// Resolves an artifact argument: `-` or nothing reads standard input, an existing file path
/// reads that file, anything else is taken as the artifact text itself.
///
/// Text read from a file or standard input may also be a whole message around the artifact
/// (e.g. an e-mail, or an older version's plain-text output with its explanation line): when
/// it is not an artifact itself but exactly one of its lines is, that line is the artifact.
pub fn artifact(arg: Option<&str>) -> Result<String, Failure> {
    let text = match arg {
        None | Some("-") => {
            let mut s = String::new();
            std::io::stdin()
                .read_to_string(&mut s)
                .map_err(|e| Failure::io("cannot read standard input", &e))?;
            s
        }
        Some(a) if looks_like_artifact(a) => return Ok(a.to_string()),
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| Failure::io(&format!("cannot read {path}"), &e))?,
    };
    Ok(the_artifact_in(text))
}

/// `text`, or its only line that looks like an artifact when `text` itself does not.
fn the_artifact_in(text: String) -> String {
    if looks_like_artifact(text.trim()) {
        return text;
    }
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| looks_like_artifact(l));
    match (lines.next(), lines.next()) {
        (Some(only), None) => only.to_owned(),
        _ => text,
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

#[cfg(test)]
mod tests {
    use super::the_artifact_in;

    #[test]
    fn one_artifact_line_is_found_in_a_message() {
        let a = "TGDC:VEcEAQHpBwKQ7I_SBlljP95IYT--X1rVtV8HOBzCRWZ-q9etb3FJaLPES60_P7PWj5hYm0FCHQbYTyPelKZYB6z3ibtb49y8WVvphwPRO7BG";
        assert_eq!(the_artifact_in(format!("{a}\n")), format!("{a}\n"));
        assert_eq!(the_artifact_in(format!("Send this code:\n  {a}\n")), a);
        let two = format!("{a}\n{a}\n");
        assert_eq!(the_artifact_in(two.clone()), two);
        assert_eq!(the_artifact_in("no artifact\n".into()), "no artifact\n");
    }
}
