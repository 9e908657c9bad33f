package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13 §4: a {@link LicenseWatch} tells the listener about each change (pending,
 * installed, expiring soon, lost, clock rollback, deactivated), in order, from its own thread;
 * a listener that throws never hurts the JVM or the other watches. Bounded waits on a queue.
 */
class LicenseWatchTest {
    private static final long BOUND_SECS = 60;
    private static final long DAY = 86_400;

    @TempDir
    Path tmp;

    private static LicenseEvent next(BlockingQueue<LicenseEvent> q) throws InterruptedException {
        LicenseEvent e = q.poll(BOUND_SECS, TimeUnit.SECONDS);
        assertNotNull(e, "no event within the bound");
        return e;
    }

    @Test
    void eachChangeIsReportedOnceInOrder() throws Exception {
        Vendor vendor = new Vendor(tmp.resolve("vendor"));
        long t0 = Instant.now().getEpochSecond();
        Vendor.Issued issued = vendor.issue(1, "mqtt-server",
                "--not-after=" + (t0 + 200 * DAY));
        Instant start = Instant.now();
        ManualClock clock = new ManualClock(start);
        BlockingQueue<LicenseEvent> events = new LinkedBlockingQueue<>();
        BlockingQueue<LicenseEvent> seenByRude = new LinkedBlockingQueue<>();
        try (LicenseManager m = LicenseManager.open(tmp.resolve("host"),
                vendor.hostConfig("watch"), clock);
                LicenseWatch rude = LicenseWatch.start(m, Duration.ofMillis(20), e -> {
                    seenByRude.add(e);
                    throw new IllegalStateException("a listener that throws");
                })) {
            LicenseWatch watch = LicenseWatch.start(m, Duration.ofMillis(20), events::add);
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                    () -> LicenseWatch.start(m, Duration.ZERO, events::add)).code());

            String request = m.requestUsage(issued.key());
            LicenseEvent e = next(events);
            assertEquals(LicenseEvent.Kind.STATE_CHANGED, e.kind());
            assertEquals(LicenseState.UNLICENSED, e.previous());
            assertEquals(LicenseState.PENDING, e.state());

            m.install(vendor.fulfil(request));
            e = next(events);
            assertEquals(LicenseEvent.Kind.INSTALLED, e.kind());
            assertEquals(LicenseState.ACTIVE, e.state());
            assertEquals(1, e.revision());
            assertTrue(e.activationId() > 0);

            clock.set(start.plusSeconds(180 * DAY));
            e = next(events);
            assertEquals(LicenseEvent.Kind.EXPIRING_SOON, e.kind());
            assertTrue(e.message().startsWith("the license expires in 20 days"), e.message());

            clock.set(start.plusSeconds(201 * DAY));
            e = next(events);
            assertEquals(LicenseEvent.Kind.LOST, e.kind());
            assertEquals(LicenseState.EXPIRED, e.state());
            assertEquals(ErrorCode.EXPIRED, e.errorCode());

            m.refresh(); // the host saw day 201; then its clock goes back
            clock.set(start.plusSeconds(100 * DAY));
            e = next(events);
            assertEquals(LicenseEvent.Kind.CLOCK_ROLLBACK, e.kind());
            assertEquals(ErrorCode.CLOCK_ROLLBACK, e.errorCode());

            clock.set(start.plusSeconds(201 * DAY));
            assertEquals(LicenseEvent.Kind.STATE_CHANGED, next(events).kind());
            m.deactivate();
            e = next(events);
            assertEquals(LicenseEvent.Kind.DEACTIVATED, e.kind());
            assertEquals(LicenseState.UNLICENSED, e.state());

            // The throwing listener kept being called up to the last change; nothing broke.
            assertNotNull(rude);
            LicenseEvent last;
            do {
                last = next(seenByRude);
            } while (last.kind() != LicenseEvent.Kind.DEACTIVATED);
            watch.close();
            watch.close(); // idempotent
            m.requestUsage(issued.key());
            assertNull(events.poll(200, TimeUnit.MILLISECONDS), "a closed watch reports nothing");
        }
    }
}
