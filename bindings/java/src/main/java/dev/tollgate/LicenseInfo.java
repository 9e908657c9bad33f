package dev.tollgate;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * A usage license as a status page shows it: the installed one ({@link Status#license()}) or
 * one checked with {@link LicenseManager#verify}. Immutable.
 *
 * @param licenseId the license id (quote it to the vendor)
 * @param customer the vendor's reference for the customer
 * @param product the product id
 * @param revision the license revision fulfilled
 * @param activationId the activation (seat) id
 * @param deploymentModel online, offline or floating
 * @param issuedAt when the vendor issued the usage license
 * @param installedAt when it was installed here (empty for {@code verify})
 * @param validFrom start of validity, if bounded
 * @param validUntil end of validity (the earlier of expiry and refresh deadline), if bounded
 * @param refreshDeadline for online and floating activations: refresh before this time
 * @param features the features, in license order (unmodifiable)
 * @param fingerprint how this host's fingerprint matches the license's
 * @param vendorKeyId the id of the vendor key that signed it (16 hex digits)
 */
public record LicenseInfo(long licenseId, String customer, String product, int revision,
        long activationId, DeploymentModel deploymentModel, Instant issuedAt,
        Optional<Instant> installedAt, Optional<Instant> validFrom, Optional<Instant> validUntil,
        Optional<Instant> refreshDeadline, List<FeatureStatus> features,
        FingerprintMatch fingerprint, String vendorKeyId) {

    /** Copies {@code features} and checks that no component is null. */
    public LicenseInfo {
        Objects.requireNonNull(customer);
        Objects.requireNonNull(product);
        Objects.requireNonNull(deploymentModel);
        Objects.requireNonNull(issuedAt);
        Objects.requireNonNull(installedAt);
        Objects.requireNonNull(validFrom);
        Objects.requireNonNull(validUntil);
        Objects.requireNonNull(refreshDeadline);
        features = List.copyOf(features);
        Objects.requireNonNull(fingerprint);
        Objects.requireNonNull(vendorKeyId);
    }

    /**
     * The feature named {@code name}, if the license has one.
     *
     * @param name the feature's name
     * @return the feature, or empty
     */
    public Optional<FeatureStatus> feature(String name) {
        return features.stream().filter(f -> f.name().equals(name)).findFirst();
    }

    static LicenseInfo fromNative(long licenseId, String customer, String product, int revision,
            long activationId, String model, long issuedAt, long installedAt,
            long validFrom, long validUntil, long refreshDeadline, Object[] features,
            int matched, int licensed, int required, boolean ok, String vendorKeyId) {
        List<FeatureStatus> list = new ArrayList<>(features.length);
        for (Object f : features) {
            list.add((FeatureStatus) f);
        }
        return new LicenseInfo(licenseId, customer, product, revision, activationId,
                DeploymentModel.fromName(model), instant(issuedAt), optional(installedAt),
                optional(validFrom), optional(validUntil), optional(refreshDeadline), list,
                new FingerprintMatch(matched, licensed, required, ok), vendorKeyId);
    }

    /**
     * Epoch seconds as signed (never negative) → {@code Instant}; a time beyond
     * {@link Instant#MAX} (a validly signed artifact may carry any unsigned 64-bit time, see
     * {@code core/SPEC.md} §1) is clamped to {@code Instant.MAX}, never an exception.
     */
    static Instant instant(long epochSeconds) {
        return epochSeconds > Instant.MAX.getEpochSecond() ? Instant.MAX
                : Instant.ofEpochSecond(epochSeconds);
    }

    /** {@link #instant(long)}, or empty for {@code -1} (no time). */
    static Optional<Instant> optional(long epochSeconds) {
        return epochSeconds < 0 ? Optional.empty() : Optional.of(instant(epochSeconds));
    }
}
