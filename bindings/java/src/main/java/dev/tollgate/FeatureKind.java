package dev.tollgate;

/** How a licensed feature is sold ({@link FeatureStatus#kind()}). */
public enum FeatureKind {
    /** Never expires. */
    PERPETUAL,
    /** Usable until {@link FeatureStatus#expiresAt()}. */
    SUBSCRIPTION,
    /** Usable while the license is; usage counted against a quota per period. */
    METERED;

    static FeatureKind fromName(String name) {
        return valueOf(name.toUpperCase(java.util.Locale.ROOT));
    }
}
