//! UTC calendar arithmetic: ISO-8601 formatting and meter periods, without a date library.

use tollgate_core::MeterPeriod;

const DAY: u64 = 86_400;

/// The civil date (year, month 1–12, day 1–31) of `days` since 1970-01-01 (proleptic
/// Gregorian; Howard Hinnant's `civil_from_days`).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let y = if m <= 2 { y + 1 } else { y };
    (y, m as u32, d as u32)
}

/// Days since 1970-01-01 of a civil date (the inverse of [`civil_from_days`]).
pub fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let (m, d) = (i64::from(month), i64::from(day));
    let y = if m <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = if m > 2 { m - 3 } else { m + 9 }; // [0, 11]
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds as ISO-8601 UTC, e.g. `2025-03-01T00:00:00Z`. A year after 9999 (only
/// in an artifact the vendor should not have signed: SPEC.md §1) is written in ISO-8601's
/// expanded form with a sign, `+10000-01-01T00:00:00Z`, as `java.time.Instant` reads it.
pub fn format_utc(secs: u64) -> String {
    let days = (secs / DAY) as i64;
    let rem = secs % DAY;
    let (y, m, d) = civil_from_days(days);
    let sign = if y > 9999 { "+" } else { "" };
    format!(
        "{sign}{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn days_to_secs(days: i64) -> u64 {
    u64::try_from(days).unwrap_or(0).saturating_mul(DAY)
}

/// The UTC period of kind `period` holding `now`: its first second and the first second of the
/// next period.
pub fn period_bounds(period: MeterPeriod, now: u64) -> (u64, u64) {
    let days = (now / DAY) as i64;
    match period {
        MeterPeriod::Day => {
            let start = now - now % DAY;
            (start, start.saturating_add(DAY))
        }
        MeterPeriod::Month => {
            let (y, m, _) = civil_from_days(days);
            let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
            (
                days_to_secs(days_from_civil(y, m, 1)),
                days_to_secs(days_from_civil(ny, nm, 1)),
            )
        }
        MeterPeriod::Year => {
            let (y, _, _) = civil_from_days(days);
            (
                days_to_secs(days_from_civil(y, 1, 1)),
                days_to_secs(days_from_civil(y + 1, 1, 1)),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(format_utc(4_102_444_800), "2100-01-01T00:00:00Z");
        // The vendor's last second (MAX_VENDOR_TIME), and beyond it the expanded form.
        assert_eq!(format_utc(253_402_300_799), "9999-12-31T23:59:59Z");
        assert_eq!(format_utc(253_402_300_800), "+10000-01-01T00:00:00Z");
        assert_eq!(format_utc(u64::MAX), "+584554051223-11-09T07:00:15Z");
    }

    #[test]
    fn civil_round_trip() {
        for days in (-800_000i64..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }

    #[test]
    fn periods() {
        // 2024-02-29T23:59:59Z
        let t = 1_709_251_199;
        assert_eq!(
            period_bounds(MeterPeriod::Day, t),
            (1_709_164_800, 1_709_251_200)
        );
        let (a, b) = period_bounds(MeterPeriod::Month, t);
        assert_eq!(
            (format_utc(a), format_utc(b)),
            ("2024-02-01T00:00:00Z".into(), "2024-03-01T00:00:00Z".into())
        );
        let (a, b) = period_bounds(MeterPeriod::Month, 1_703_980_800); // 2023-12-31
        assert_eq!(
            (format_utc(a), format_utc(b)),
            ("2023-12-01T00:00:00Z".into(), "2024-01-01T00:00:00Z".into())
        );
        let (a, b) = period_bounds(MeterPeriod::Year, t);
        assert_eq!(
            (format_utc(a), format_utc(b)),
            ("2024-01-01T00:00:00Z".into(), "2025-01-01T00:00:00Z".into())
        );
        // The end of time does not overflow.
        let (a, b) = period_bounds(MeterPeriod::Day, u64::MAX);
        assert_eq!((a, b), (u64::MAX - u64::MAX % DAY, u64::MAX));
        let (a, b) = period_bounds(MeterPeriod::Year, u64::MAX);
        assert!(a < b);
    }
}
