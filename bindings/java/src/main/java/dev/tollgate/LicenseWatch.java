package dev.tollgate;

import java.lang.ref.Reference;
import java.time.Duration;
import java.util.Objects;

/**
 * Reports the license events of a {@link LicenseManager} to a {@link LicenseListener}: a usage
 * license installed (activation, renewal, online refresh), a feature or the license expiring
 * soon, the license lost (expired, refresh overdue, fingerprint mismatch), the clock set back,
 * a deactivation, and any other state change. A broker is told instead of polling
 * {@link LicenseManager#status()}.
 *
 * <pre>{@code
 * try (LicenseWatch watch = LicenseWatch.start(manager, Duration.ofSeconds(30), event -> {
 *     if (event.kind() == LicenseEvent.Kind.LOST) { log.warn("license lost: {}", event); }
 * })) {
 *     ...
 * }
 * }</pre>
 *
 * <p>The watch looks at once when the manager changes (an install, a refresh, a
 * deactivation, from any thread or process call), and every {@code interval} for what time
 * alone changes (an expiry, a refresh deadline, a clock set back). The status at start is the
 * baseline and reports nothing. Closing the watch, or the manager, stops it; closing waits for
 * a listener call in progress, except when called from the listener itself.
 */
public final class LicenseWatch implements AutoCloseable {
    private final LicenseManager manager;
    private final long id;

    private LicenseWatch(LicenseManager manager, long id) {
        this.manager = manager;
        this.id = id;
    }

    /**
     * Starts a watch of {@code manager}.
     *
     * @param manager the manager
     * @param interval how often to look when nothing changed in the manager (at least 1 ms)
     * @param listener told each event (see {@link LicenseListener} for its thread and rules)
     * @return the watch; close it
     * @throws LicenseException 211 for an interval under 1 ms
     * @throws IllegalStateException when the manager is closed
     */
    public static LicenseWatch start(LicenseManager manager, Duration interval,
            LicenseListener listener) throws LicenseException {
        Objects.requireNonNull(manager, "manager");
        Objects.requireNonNull(interval, "interval");
        Objects.requireNonNull(listener, "listener");
        try {
            long id = nativeStart(manager.nativeHandle(), interval.toMillis(), listener);
            return new LicenseWatch(manager, id);
        } finally {
            Reference.reachabilityFence(manager);
        }
    }

    /** Stops the watch. Idempotent; also fine after the manager was closed. */
    @Override
    public void close() {
        try {
            nativeStop(manager.nativeHandle(), id);
        } finally {
            Reference.reachabilityFence(manager);
        }
    }

    static {
        // Loads the native library, where this class's native methods live.
        Native.version();
    }

    private static native long nativeStart(long manager, long intervalMs, LicenseListener listener)
            throws LicenseException;

    private static native void nativeStop(long manager, long id);
}
