package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** One manager shared by many threads: queries in parallel with changes, and with close. */
class ConcurrencyTest {
    private static final int THREADS = 8;

    @Test
    void hasFeatureFromManyThreadsWhileTheStateChanges(@TempDir Path tmp) throws Exception {
        Vendor vendor = new Vendor(tmp);
        Vendor.Issued issued = vendor.issue(1, "mqtt-server", "iot-bridge-snowflake:1000000/day");
        ExecutorService pool = Executors.newFixedThreadPool(THREADS + 1);
        try (LicenseManager m = LicenseManager.open(tmp.resolve("a"), vendor.hostConfig("a"),
                ClockSource.CACHED)) {
            m.install(vendor.fulfil(m.requestUsage(issued.key())));
            AtomicBoolean stop = new AtomicBoolean();
            List<Future<Long>> readers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                readers.add(pool.submit(() -> {
                    long n = 0;
                    while (!stop.get() || n < 10_000) {
                        if (!m.hasFeature("mqtt-server") || m.hasFeature("nope")) {
                            throw new AssertionError("wrong answer");
                        }
                        if (n % 1000 == 0 && m.status().state() != LicenseState.ACTIVE) {
                            throw new AssertionError("not active");
                        }
                        n++;
                    }
                    return n;
                }));
            }
            Future<?> writer = pool.submit(() -> {
                for (int i = 0; i < 200; i++) {
                    m.recordUsage("iot-bridge-snowflake", 1);
                }
                return null;
            });
            writer.get(60, TimeUnit.SECONDS);
            stop.set(true);
            long total = 0;
            for (Future<Long> r : readers) {
                total += r.get(60, TimeUnit.SECONDS);
            }
            assertTrue(total >= THREADS * 10_000L);
            assertEquals(200, m.meter("iot-bridge-snowflake").used());
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void closeWhileOtherThreadsCheck(@TempDir Path tmp) throws Exception {
        Vendor vendor = new Vendor(tmp);
        Vendor.Issued issued = vendor.issue(1, "mqtt-server");
        ExecutorService pool = Executors.newFixedThreadPool(THREADS);
        try {
            LicenseManager m = LicenseManager.open(tmp.resolve("a"), vendor.hostConfig("a"));
            m.install(vendor.fulfil(m.requestUsage(issued.key())));
            AtomicLong closedSeen = new AtomicLong();
            List<Future<?>> readers = new ArrayList<>();
            for (int t = 0; t < THREADS; t++) {
                readers.add(pool.submit(() -> {
                    for (int i = 0; i < 200_000; i++) {
                        try {
                            if (!m.hasFeature("mqtt-server")) {
                                throw new AssertionError("an open manager said no");
                            }
                        } catch (IllegalStateException closed) {
                            closedSeen.incrementAndGet();
                            return null;
                        }
                    }
                    return null;
                }));
            }
            Thread.sleep(20);
            m.close();
            for (Future<?> r : readers) {
                r.get(60, TimeUnit.SECONDS);
            }
            // The state directory is free once close returned.
            LicenseManager.open(tmp.resolve("a"), vendor.hostConfig("a")).close();
            assertTrue(closedSeen.get() <= THREADS);
        } finally {
            pool.shutdownNow();
        }
    }
}
