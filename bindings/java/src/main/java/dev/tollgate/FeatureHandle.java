package dev.tollgate;

import java.lang.invoke.MethodHandles;
import java.lang.invoke.VarHandle;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;

/**
 * One feature of a {@link LicenseManager}, resolved once ({@link LicenseManager#feature}), whose
 * check {@link #isEnabled()} crosses no JNI boundary: the hot path of a broker that checks a
 * feature on every connection or message.
 *
 * <pre>{@code
 * FeatureHandle mqtt = licensing.feature("mqtt-server");   // once
 * if (mqtt.isEnabled()) { ... }                             // on every request: a few ns
 * }</pre>
 *
 * <p>{@link #isEnabled()} answers exactly as {@link LicenseManager#hasFeature(String)} does:
 * a license is installed and verified for this host, the clock was not set back beyond the
 * tolerance, the license is within its validity, and the feature exists and has not expired.
 * It reads the manager's feature gate, which the native runtime keeps current in native memory
 * (every install, upgrade, deactivation and refresh publishes to it), through a direct buffer
 * with the gate's sequence lock and acquire reads, and the manager's clock: the cached clock's
 * or {@link ManualClock}'s reading word in native memory, or for {@link ClockSource#SYSTEM}
 * {@link System#currentTimeMillis()} (the same real-time clock the runtime reads). Like the
 * runtime's check, it raises the clock high-water mark, so a clock set back closes the gate.
 *
 * <p>Thread-safe, lock-free, allocation-free. After {@link LicenseManager#close()} it answers
 * {@code false}; it keeps its manager reachable, so the native memory it reads stays valid
 * until the handle and the manager are both unreachable (no use after free).
 */
public final class FeatureHandle {
    private static final VarHandle LONG =
            MethodHandles.byteBufferViewVarHandle(long[].class, ByteOrder.nativeOrder());

    private static final int SEQ;
    private static final int HIGH_WATER;
    private static final int TOLERANCE;
    private static final int VALID_FROM;
    private static final int VALID_UNTIL;
    private static final int COUNT;
    private static final int FEATURES;
    private static final int SLOT_SIZE;
    private static final int SLOT_LEN;
    private static final int SLOT_NAME;
    private static final int SLOT_ACTIVE_UNTIL;
    private static final int NAME_WORDS;
    private static final int MAX_FEATURES;

    static {
        long[] l = Native.gateLayout();
        SEQ = (int) l[1];
        HIGH_WATER = (int) l[2];
        TOLERANCE = (int) l[3];
        VALID_FROM = (int) l[4];
        VALID_UNTIL = (int) l[5];
        COUNT = (int) l[6];
        FEATURES = (int) l[7];
        SLOT_SIZE = (int) l[8];
        SLOT_LEN = (int) l[9];
        SLOT_NAME = (int) l[10];
        SLOT_ACTIVE_UNTIL = (int) l[11];
        NAME_WORDS = (int) l[12];
        MAX_FEATURES = (int) l[13];
    }

    /** Bits of {@link #resolved} that hold the slot index + 1 (0: no such feature). */
    private static final int SLOT_BITS = 6;

    private final LicenseManager manager;
    private final String name;
    private final ByteBuffer gate;
    /** The clock's reading word, or {@code null}: read {@link System#currentTimeMillis()}. */
    private final ByteBuffer clock;
    /** The name's length in UTF-8 bytes, or -1 when no feature can have it (too long). */
    private final long length;
    private final long[] words;
    /**
     * The gate sequence this handle last resolved its slot at, shifted left by
     * {@link #SLOT_BITS}, or'ed with slot + 1. A racy cache of an immutable fact per sequence.
     */
    private volatile long resolved = -1;

    FeatureHandle(LicenseManager manager, String name, ByteBuffer gate, ByteBuffer clock) {
        this.manager = manager;
        this.name = name;
        this.gate = gate.order(ByteOrder.nativeOrder());
        this.clock = clock == null ? null : clock.order(ByteOrder.nativeOrder());
        byte[] utf8 = name.getBytes(StandardCharsets.UTF_8);
        this.words = new long[NAME_WORDS];
        if (utf8.length > NAME_WORDS * 8) {
            this.length = -1;
        } else {
            this.length = utf8.length;
            for (int i = 0; i < utf8.length; i++) {
                words[i / 8] |= (utf8[i] & 0xffL) << (8 * (i % 8));
            }
        }
    }

    /** The feature's name. */
    public String name() {
        return name;
    }

    /**
     * Whether the feature is usable now: the same answer as
     * {@link LicenseManager#hasFeature(String)}, without a native call; {@code false} once the
     * manager is closed.
     *
     * @return whether it is usable
     */
    public boolean isEnabled() {
        if (manager.closed) {
            return false;
        }
        long now = clock == null ? Math.floorDiv(System.currentTimeMillis(), 1000L)
                : (long) LONG.getOpaque(clock, 0);
        observe(now);
        if (length < 0) {
            return false;
        }
        while (true) {
            long seq = (long) LONG.getAcquire(gate, SEQ);
            if ((seq & 1) != 0) {
                Thread.onSpinWait();
                continue;
            }
            long cached = resolved;
            int slot = (cached >>> SLOT_BITS) == seq ? (int) (cached & ((1 << SLOT_BITS) - 1)) - 1
                    : find();
            boolean answer = check(now, slot);
            VarHandle.acquireFence();
            if ((long) LONG.getOpaque(gate, SEQ) == seq) {
                if ((cached >>> SLOT_BITS) != seq) {
                    resolved = (seq << SLOT_BITS) | (slot + 1);
                }
                return answer;
            }
        }
    }

    /** Raises the gate's clock high-water mark to {@code now} (never lowers it). */
    private void observe(long now) {
        long mark = (long) LONG.getOpaque(gate, HIGH_WATER);
        while (Long.compareUnsigned(now, mark) > 0) {
            long seen = (long) LONG.compareAndExchange(gate, HIGH_WATER, mark, now);
            if (seen == mark) {
                return;
            }
            mark = seen;
        }
    }

    /** The check on values a concurrent publish may tear (the caller then retries). */
    private boolean check(long now, int slot) {
        long tolerance = (long) LONG.getOpaque(gate, TOLERANCE);
        long floor = now + tolerance;
        if (Long.compareUnsigned(floor, now) < 0) {
            floor = -1L; // saturated: u64::MAX
        }
        if (Long.compareUnsigned(floor, (long) LONG.getOpaque(gate, HIGH_WATER)) < 0
                || Long.compareUnsigned(now, (long) LONG.getOpaque(gate, VALID_FROM)) < 0
                || Long.compareUnsigned(now, (long) LONG.getOpaque(gate, VALID_UNTIL)) >= 0
                || slot < 0) {
            return false;
        }
        long until = (long) LONG.getOpaque(gate, FEATURES + slot * SLOT_SIZE + SLOT_ACTIVE_UNTIL);
        return Long.compareUnsigned(now, until) < 0;
    }

    /** The slot holding this feature's name, or -1 (may be torn: validated by the caller). */
    private int find() {
        long count = Math.min((long) LONG.getOpaque(gate, COUNT), MAX_FEATURES);
        for (int i = 0; i < count; i++) {
            int base = FEATURES + i * SLOT_SIZE;
            if ((long) LONG.getOpaque(gate, base + SLOT_LEN) != length) {
                continue;
            }
            boolean same = true;
            for (int w = 0; w < NAME_WORDS && same; w++) {
                same = (long) LONG.getOpaque(gate, base + SLOT_NAME + 8 * w) == words[w];
            }
            if (same) {
                return i;
            }
        }
        return -1;
    }

    @Override
    public String toString() {
        return "FeatureHandle[" + name + "]";
    }
}
