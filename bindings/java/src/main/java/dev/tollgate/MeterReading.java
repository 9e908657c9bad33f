package dev.tollgate;

import java.time.Instant;

/**
 * A metered feature's usage in its current UTC period ({@link LicenseManager#recordUsage}).
 *
 * @param feature the feature
 * @param period {@code day}, {@code month} or {@code year}
 * @param periodStart first second of the current period
 * @param periodEnd first second of the next period
 * @param used units used in the current period
 * @param quota units allowed per period
 * @param remaining units left in the current period
 */
public record MeterReading(String feature, String period, Instant periodStart,
        Instant periodEnd, long used, long quota, long remaining) {

    static MeterReading fromNative(String feature, String period, long periodStart,
            long periodEnd, long used, long quota, long remaining) {
        return new MeterReading(feature, period, Instant.ofEpochSecond(periodStart),
                Instant.ofEpochSecond(periodEnd), used, quota, remaining);
    }
}
