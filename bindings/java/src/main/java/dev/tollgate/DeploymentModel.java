package dev.tollgate;

/** How an activation was granted ({@link LicenseInfo#deploymentModel()}). */
public enum DeploymentModel {
    /** Activated through the vendor's online service; must be refreshed. */
    ONLINE,
    /** Activated by the offline usage request → usage license round trip. */
    OFFLINE,
    /** A seat leased from a floating license server; must be refreshed. */
    FLOATING,
    /** A cloud marketplace instance, activated online from the cloud's signed instance identity. */
    MARKETPLACE;

    static DeploymentModel fromName(String name) {
        return valueOf(name.toUpperCase(java.util.Locale.ROOT));
    }
}
