package dev.tollgate;

import java.util.Locale;
import java.util.Objects;

/**
 * One change of a {@link LicenseManager}'s license state, reported to a
 * {@link LicenseListener} by a {@link LicenseWatch}.
 *
 * @param kind what changed
 * @param state the state now
 * @param previous the state before
 * @param errorCode why the state is not active now (a result code, {@link ErrorCode}), or 0
 * @param revision the installed license's revision (0 without one)
 * @param activationId the installed license's activation id (0 without one)
 * @param message the warning of an {@link Kind#EXPIRING_SOON} event (e.g. {@code support
 *     expires in 20 days, on …}), else empty
 */
public record LicenseEvent(Kind kind, LicenseState state, LicenseState previous, int errorCode,
        int revision, long activationId, String message) {

    /** What changed. */
    public enum Kind {
        /** A usage license was installed: a first activation, a renewal, upgrade or refresh. */
        INSTALLED,
        /** A new warning that a feature or the license expires soon ({@link #message()}). */
        EXPIRING_SOON,
        /** The license stopped being usable: expired, refresh overdue, fingerprint mismatch. */
        LOST,
        /** The clock was set back beyond the tolerance: nothing is licensed until corrected. */
        CLOCK_ROLLBACK,
        /** The license was deactivated on this host. */
        DEACTIVATED,
        /** Any other change of the state (e.g. active again, a usage request pending). */
        STATE_CHANGED;
    }

    /** Checks that no component is null. */
    public LicenseEvent {
        Objects.requireNonNull(kind);
        Objects.requireNonNull(state);
        Objects.requireNonNull(previous);
        Objects.requireNonNull(message);
    }

    /** Called by the native library with the runtime's snake_case names. */
    static LicenseEvent fromNative(String kind, String state, String previous, int errorCode,
            int revision, long activationId, String message) {
        return new LicenseEvent(Kind.valueOf(kind.toUpperCase(Locale.ROOT)),
                LicenseState.fromJsonName(state), LicenseState.fromJsonName(previous), errorCode,
                revision, activationId, message);
    }
}
