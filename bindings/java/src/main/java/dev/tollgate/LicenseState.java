package dev.tollgate;

/** The overall state of licensing on this host ({@link Status#state()}). */
public enum LicenseState {
    /** Nothing installed, nothing requested. */
    UNLICENSED("unlicensed"),
    /** A usage request was made; its usage license has not been installed yet. */
    PENDING("pending"),
    /** A usage license is installed and valid now. */
    ACTIVE("active"),
    /** The installed license's validity has not started yet. */
    NOT_YET_VALID("not_yet_valid"),
    /** The installed license has expired. */
    EXPIRED("expired"),
    /** The installed online or floating activation was not refreshed in time. */
    REFRESH_OVERDUE("refresh_overdue"),
    /** The installed license is bound to a machine this host no longer resembles enough. */
    FINGERPRINT_MISMATCH("fingerprint_mismatch"),
    /** The clock was set back; nothing is licensed until it is corrected. */
    CLOCK_ROLLBACK("clock_rollback"),
    /** The installed license cannot be used; {@link Status#error()} says why. */
    INVALID("invalid");

    private final String jsonName;

    LicenseState(String jsonName) {
        this.jsonName = jsonName;
    }

    /** The snake_case name used in {@link LicenseManager#statusJson()}, e.g. {@code not_yet_valid}. */
    public String jsonName() {
        return jsonName;
    }

    static LicenseState fromJsonName(String name) {
        for (LicenseState s : values()) {
            if (s.jsonName.equals(name)) {
                return s;
            }
        }
        throw new IllegalArgumentException("unknown license state " + name);
    }
}
