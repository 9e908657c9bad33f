package dev.tollgate;

/**
 * How the host's fingerprint matches an installed license's.
 *
 * @param matched licensed components present on this host
 * @param licensed components the license lists
 * @param required components that must match
 * @param ok whether enough match
 */
public record FingerprintMatch(int matched, int licensed, int required, boolean ok) {}
