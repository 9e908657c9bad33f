package dev.tollgate;

import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What a license status page shows ({@link LicenseManager#status()}): an immutable snapshot.
 * {@link LicenseManager#statusJson()} gives the same content as JSON.
 *
 * @param state the overall state
 * @param product the configured product id
 * @param productVersion the configured product version
 * @param checkedAt when this status was computed
 * @param pendingRequest whether a usage request is waiting for its usage license (also during
 *     an upgrade of an active license)
 * @param license the installed license, when one is installed and its signature verifies
 * @param warnings things the operator should act on, e.g. {@code support expires in 12 days,
 *     on …} (unmodifiable)
 * @param error why the state is not {@code ACTIVE} (empty when active, unlicensed or pending)
 */
public record Status(LicenseState state, String product, String productVersion,
        Instant checkedAt, boolean pendingRequest, Optional<LicenseInfo> license,
        List<String> warnings, Optional<StatusError> error) {

    /** Copies {@code warnings} and checks that no component is null. */
    public Status {
        Objects.requireNonNull(state);
        Objects.requireNonNull(product);
        Objects.requireNonNull(productVersion);
        Objects.requireNonNull(checkedAt);
        Objects.requireNonNull(license);
        warnings = List.copyOf(warnings);
        Objects.requireNonNull(error);
    }

    /** The installed license's id, if any. */
    public Optional<Long> licenseId() {
        return license.map(LicenseInfo::licenseId);
    }

    /** The installed license's customer, if any. */
    public Optional<String> customer() {
        return license.map(LicenseInfo::customer);
    }

    /** The installed license's features (empty without a license). */
    public List<FeatureStatus> features() {
        return license.map(LicenseInfo::features).orElse(List.of());
    }

    /**
     * The installed license's feature named {@code name}, if any.
     *
     * @param name the feature's name
     * @return the feature, or empty
     */
    public Optional<FeatureStatus> feature(String name) {
        return license.flatMap(l -> l.feature(name));
    }

    static Status fromNative(String state, String product, String productVersion,
            long checkedAt, boolean pendingRequest, LicenseInfo license, Object[] warnings,
            int errorCode, String errorName, String errorMessage) {
        List<String> list = new ArrayList<>(warnings.length);
        for (Object w : warnings) {
            list.add((String) w);
        }
        return new Status(LicenseState.fromJsonName(state), product, productVersion,
                LicenseInfo.instant(checkedAt), pendingRequest, Optional.ofNullable(license), list,
                errorName == null ? Optional.empty()
                        : Optional.of(new StatusError(errorCode, errorName, errorMessage)));
    }
}
