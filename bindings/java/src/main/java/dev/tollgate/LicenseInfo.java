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
            long activationId, String model, String issuedAt, String installedAt,
            String validFrom, String validUntil, String refreshDeadline, Object[] features,
            int matched, int licensed, int required, boolean ok, String vendorKeyId) {
        List<FeatureStatus> list = new ArrayList<>(features.length);
        for (Object f : features) {
            list.add((FeatureStatus) f);
        }
        return new LicenseInfo(licenseId, customer, product, revision, activationId,
                DeploymentModel.fromName(model), Instant.parse(issuedAt), instant(installedAt),
                instant(validFrom), instant(validUntil), instant(refreshDeadline), list,
                new FingerprintMatch(matched, licensed, required, ok), vendorKeyId);
    }

    static Optional<Instant> instant(String iso) {
        return Optional.ofNullable(iso).map(Instant::parse);
    }
}
