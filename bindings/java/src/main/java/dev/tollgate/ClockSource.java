package dev.tollgate;

/**
 * Where a {@link LicenseManager} reads the time from (for a settable clock, open it with a
 * {@link ManualClock}).
 */
public enum ClockSource {
    /** The system clock, read on every call (20–40 ns, depending on the machine). The default. */
    SYSTEM,
    /**
     * A cached system clock: a background thread refreshes it every 100 ms, so a reading costs
     * one atomic load and is at most 100 ms old. For hosts that call
     * {@link LicenseManager#hasFeature(String)} on every message or connection.
     */
    CACHED
}
