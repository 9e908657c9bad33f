package dev.tollgate;

import java.time.Instant;
import java.util.Objects;
import java.util.Optional;
import java.util.OptionalLong;

/**
 * One licensed feature, as the status page shows it: an immutable entitlement value.
 *
 * @param name the feature's name, e.g. {@code mqtt-server}
 * @param kind perpetual, subscription or metered
 * @param expiresAt for subscriptions: when it ends (exclusive)
 * @param active whether {@link LicenseManager#hasFeature(String)} was true for it when the
 *     status was computed
 * @param quota for metered features: units per period
 * @param period for metered features: {@code day}, {@code month} or {@code year} (UTC)
 * @param used for metered features of an installed license: units used in the current period
 */
public record FeatureStatus(String name, FeatureKind kind, Optional<Instant> expiresAt,
        boolean active, OptionalLong quota, Optional<String> period, OptionalLong used) {

    /** Checks that no component is null. */
    public FeatureStatus {
        Objects.requireNonNull(name);
        Objects.requireNonNull(kind);
        Objects.requireNonNull(expiresAt);
        Objects.requireNonNull(quota);
        Objects.requireNonNull(period);
        Objects.requireNonNull(used);
    }

    static FeatureStatus fromNative(String name, String kind, long expiresAt, boolean active,
            boolean hasQuota, long quota, String period, boolean hasUsed, long used) {
        return new FeatureStatus(name, FeatureKind.fromName(kind),
                LicenseInfo.optional(expiresAt), active,
                hasQuota ? OptionalLong.of(quota) : OptionalLong.empty(),
                Optional.ofNullable(period),
                hasUsed ? OptionalLong.of(used) : OptionalLong.empty());
    }
}
