package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link FeatureHandle} (issue 13 §5) answers exactly as {@link LicenseManager#hasFeature}
 * through every change: install, expiry, clock rollback, upgrade, deactivation, close; and the
 * CACHED clock's thread, {@code open(dir, cfg, null)} and {@code -Xcheck:jni} (§3).
 */
class FeatureHandleTest {
    static final List<String> NAMES = List.of("mqtt-server", "support", "iot-bridge-snowflake",
            "bridge-opc", "nope", "", "x".repeat(40), "mqtt-server2", "mqtt-serve");

    @TempDir
    Path tmp;
    Vendor vendor;
    HostConfig hostA;

    @BeforeEach
    void setUp() throws IOException, LicenseException {
        vendor = new Vendor(tmp);
        hostA = vendor.hostConfig("broker-a");
    }

    /** Every handle's answer equals hasFeature's, and is {@code expected} for the names given. */
    static void assertAgree(LicenseManager m, List<FeatureHandle> handles, List<String> enabled) {
        for (FeatureHandle h : handles) {
            boolean slow = m.hasFeature(h.name());
            assertEquals(slow, h.isEnabled(), h.name());
            assertEquals(enabled.contains(h.name()), slow, h.name());
        }
    }

    @Test
    void handlesFollowInstallExpiryRollbackUpgradeAndDeactivation() throws Exception {
        Instant start = Instant.now();
        Instant supportEnds = start.plus(Duration.ofDays(30));
        Vendor.Issued issued = vendor.issue(1, "mqtt-server",
                "support:until=" + supportEnds.getEpochSecond(),
                "iot-bridge-snowflake:1000/month");
        ManualClock clock = new ManualClock(start);
        LicenseManager m = LicenseManager.open(tmp.resolve("a"), hostA, clock);
        List<FeatureHandle> handles = new ArrayList<>();
        for (String n : NAMES) {
            handles.add(m.feature(n));
        }
        assertAgree(m, handles, List.of());

        // Installed: a handle resolved before the license exists follows it.
        m.install(vendor.fulfil(m.requestUsage(issued.key())));
        List<String> all = List.of("mqtt-server", "support", "iot-bridge-snowflake");
        assertAgree(m, handles, all);

        // Expiry of the subscription, to the second.
        clock.set(supportEnds.minusSeconds(1));
        assertAgree(m, handles, all);
        clock.set(supportEnds);
        assertAgree(m, handles, List.of("mqtt-server", "iot-bridge-snowflake"));

        // The clock set back beyond the tolerance (1 h) closes everything; forward again opens.
        clock.set(start.minus(Duration.ofHours(2)));
        assertAgree(m, handles, List.of());
        assertEquals(LicenseState.CLOCK_ROLLBACK, m.status().state());
        clock.set(supportEnds.plusSeconds(60));
        assertAgree(m, handles, List.of("mqtt-server", "iot-bridge-snowflake"));

        // Upgrade: a new feature and another year of Support.
        vendor.run("upgrade", "--license", Long.toString(issued.licenseId()),
                "--add-feature", "bridge-opc",
                "--extend", "support:until=" + supportEnds.plus(Duration.ofDays(365))
                        .getEpochSecond());
        m.install(vendor.fulfil(m.requestRenewal()));
        assertAgree(m, handles, List.of("mqtt-server", "support", "iot-bridge-snowflake",
                "bridge-opc"));

        // Deactivated: nothing.
        m.deactivate();
        assertAgree(m, handles, List.of());

        // Closed: false, and no new handles.
        FeatureHandle kept = handles.get(0);
        m.close();
        assertFalse(kept.isEnabled());
        assertThrows(IllegalStateException.class, () -> m.feature("mqtt-server"));
    }

    @Test
    void handlesOfSystemAndCachedClockManagersAgree() throws Exception {
        Vendor.Issued issued = vendor.issue(2, "mqtt-server", "support:for=1y");
        for (ClockSource source : ClockSource.values()) {
            LicenseManager m = LicenseManager.open(tmp.resolve(source.name()), hostA, source);
            FeatureHandle mqtt = m.feature("mqtt-server");
            FeatureHandle nope = m.feature("nope");
            assertFalse(mqtt.isEnabled());
            m.install(vendor.fulfil(m.requestUsage(issued.key())));
            assertTrue(mqtt.isEnabled(), source.name());
            assertTrue(m.feature("support").isEnabled(), source.name());
            assertFalse(nope.isEnabled());
            m.close();
            assertFalse(mqtt.isEnabled());
        }
    }

    @Test
    void handlesRaceWithReinstallsWithoutWrongAnswers() throws Exception {
        Vendor.Issued issued = vendor.issue(1, "mqtt-server");
        try (LicenseManager m = LicenseManager.open(tmp.resolve("a"), hostA)) {
            m.install(vendor.fulfil(m.requestUsage(issued.key())));
            FeatureHandle mqtt = m.feature("mqtt-server");
            FeatureHandle nope = m.feature("nope");
            String again = vendor.fulfil(m.requestRenewal());
            List<Throwable> errors = new ArrayList<>();
            Thread reader = new Thread(() -> {
                for (int i = 0; i < 2_000_000; i++) {
                    if (!mqtt.isEnabled() || nope.isEnabled()) {
                        synchronized (errors) {
                            errors.add(new AssertionError("wrong answer at " + i));
                        }
                        return;
                    }
                }
            });
            reader.start();
            // Each install republishes the gate (same features) while the reader checks.
            m.install(again);
            for (int i = 0; i < 20; i++) {
                m.install(again);
                m.refresh();
            }
            reader.join(TimeUnit.MINUTES.toMillis(2));
            assertFalse(reader.isAlive());
            assertEquals(List.of(), errors);
        }
    }

    /** Native threads of this process named {@code tollgate-clock} (not JVM threads). */
    static long clockThreads() throws IOException {
        try (java.util.stream.Stream<Path> tasks = java.nio.file.Files.list(
                Path.of("/proc/self/task"))) {
            return tasks.filter(t -> {
                try {
                    return java.nio.file.Files.readString(t.resolve("comm")).strip()
                            .equals("tollgate-clock");
                } catch (IOException e) {
                    return false; // the thread ended meanwhile
                }
            }).count();
        }
    }

    @Test
    void closeStopsTheCachedClockThread() throws Exception {
        long before = clockThreads();
        for (int i = 0; i < 50; i++) {
            LicenseManager m = LicenseManager.open(tmp.resolve("a"), hostA, ClockSource.CACHED);
            if (i == 0) {
                // The refresher names itself once it runs: wait (bounded) until it has.
                for (int tries = 0; tries < 5_000 && clockThreads() != before + 1; tries++) {
                    Thread.sleep(1);
                }
                assertEquals(before + 1, clockThreads());
            }
            m.close();
        }
        assertEquals(before, clockThreads());
    }

    @Test
    void openWithANullClockThrowsNullPointerException() {
        NullPointerException e = assertThrows(NullPointerException.class,
                () -> LicenseManager.open(tmp.resolve("a"), hostA, (ClockSource) null));
        assertEquals("clock", e.getMessage());
        assertThrows(NullPointerException.class,
                () -> LicenseManager.open(tmp.resolve("a"), hostA, (ManualClock) null));
    }

    /** What the {@code -Xcheck:jni} child JVM does: an ordinary install, status and verify. */
    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        Vendor vendor = new Vendor(dir);
        HostConfig config = vendor.hostConfig("broker-a");
        Vendor.Issued issued = vendor.issue(1, "mqtt-server", "support:for=1y",
                "iot-bridge-snowflake:1000/month", "bridge-opc", "bridge-kafka", "bridge-s3");
        try (LicenseManager m = LicenseManager.open(dir.resolve("state"), config)) {
            String ul = vendor.fulfil(m.requestUsage(issued.key()));
            Status s = m.install(ul);
            m.status();
            LicenseManager.verify(config, ul);
            System.out.println("installed " + s.features().size() + " features");
        }
    }

    @Test
    void installUnderXcheckJniWarnsNothingAboutLocalReferences() throws Exception {
        List<String> cmd = new ArrayList<>(List.of(
                Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xcheck:jni",
                "-cp", System.getProperty("java.class.path")));
        for (String p : List.of("tollgate.cli", "tollgate.devRootSeed")) {
            if (System.getProperty(p) != null) {
                cmd.add("-D" + p + "=" + System.getProperty(p));
            }
        }
        cmd.add(FeatureHandleTest.class.getName());
        cmd.add(tmp.resolve("child").toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        assertTrue(out.contains("installed 6 features"), out);
        assertFalse(out.contains("local refs"), out);
        assertFalse(out.contains("exceeds capacity"), out);
    }
}
