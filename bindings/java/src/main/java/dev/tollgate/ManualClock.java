package dev.tollgate;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.time.Duration;
import java.time.Instant;

/**
 * A clock that reads whatever it was last set to, for tests and simulations: open a
 * {@link LicenseManager} with it and move time with {@link #set(Instant)} and
 * {@link #advance(Duration)}. Thread-safe. Its native memory is freed by a {@link Cleaner} once
 * it and every manager opened with it are gone.
 */
public final class ManualClock {
    final long handle;

    /**
     * @param now the initial time (whole seconds; not before 1970)
     * @throws LicenseException code 211 for a time before 1970
     */
    public ManualClock(Instant now) throws LicenseException {
        long h = Native.manualClockNew(now.getEpochSecond());
        this.handle = h;
        Handles.CLEANER.register(this, () -> Native.manualClockFree(h));
    }

    /**
     * Sets the time; it may go backwards (to test clock-rollback detection).
     *
     * @param now the new time
     * @throws LicenseException code 211 for a time before 1970
     */
    public void set(Instant now) throws LicenseException {
        try {
            Native.manualClockSet(handle, now.getEpochSecond());
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Moves the time by {@code d} (negative moves it back).
     *
     * @param d how far
     * @throws LicenseException code 211 when that is before 1970
     */
    public void advance(Duration d) throws LicenseException {
        set(now().plus(d));
    }

    /** The time it reads. */
    public Instant now() {
        try {
            return Instant.ofEpochSecond(Native.manualClockNow(handle));
        } finally {
            Reference.reachabilityFence(this);
        }
    }
}
