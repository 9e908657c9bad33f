package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Times after year 9999 (issue 13 §2, {@code core/SPEC.md} §1): the vendor refuses to sign them
 * (332), but a validly signed artifact that carries one never makes {@code verify},
 * {@code install} or {@code status} throw, because times cross the boundary as epoch seconds.
 * Such licenses are signed by {@code sign-unchecked} (the {@code tollgate-tests} tool that skips
 * the vendor's policy) with a key the development root certifies. Also: a failed install
 * leaves the state exactly as it was.
 */
class FarFutureDatesTest {
    /** 10000-01-01T00:00:00Z: one second after the vendor's last. */
    static final long YEAR_10000 = 253_402_300_800L;
    static final long EIGHT_THOUSAND_YEARS = 8000L * 365 * 86_400;

    @TempDir
    Path tmp;
    Vendor vendor;
    HostConfig hostA;

    @BeforeEach
    void setUp() throws IOException, LicenseException {
        vendor = new Vendor(tmp);
        hostA = vendor.hostConfig("broker-a");
    }

    /** Runs {@code sign-unchecked} (system property {@code tollgate.signUnchecked}). */
    static String signUnchecked(String request, String notAfter, String supportExpires)
            throws IOException, InterruptedException {
        String tool = System.getProperty("tollgate.signUnchecked",
                "../../target/debug/sign-unchecked");
        String seed = System.getProperty("tollgate.devRootSeed",
                "../../tests/fixtures/dev-root.seed");
        Process p = new ProcessBuilder(tool, seed, request, notAfter, supportExpires)
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue(), out);
        return out.strip();
    }

    @Test
    void theVendorRefusesTimesAfterYear9999With332() throws Exception {
        for (String[] args : List.of(
                new String[] {"--feature", "support:for=8000y"},
                new String[] {"--not-after", Long.toString(YEAR_10000)},
                new String[] {"--feature", "support:until=10000-01-01"})) {
            Vendor.Result r = vendor.tryRun(Stream.concat(Stream.of("issue", "--product",
                    Vendor.PRODUCT, "--customer", "ACME", "--feature", "mqtt-server"),
                    Stream.of(args)).toArray(String[]::new));
            assertEquals(5, r.exit(), r.stderr());
            assertEquals(332, JsonParser.parseString(r.stderr()).getAsJsonObject()
                    .getAsJsonObject("error").get("code").getAsInt(), r.stderr());
        }
        // The last representable second is accepted.
        vendor.issue(1, "mqtt-server", "--not-after=253402300799");
    }

    @Test
    void verifyInstallAndStatusCarryTimesAfterYear9999() throws Exception {
        String key = vendor.issue(1, "mqtt-server").key();
        Instant start = Instant.ofEpochSecond(1_800_000_000L);
        ManualClock clock = new ManualClock(start);
        long support = start.getEpochSecond() + EIGHT_THOUSAND_YEARS;
        try (LicenseManager m = LicenseManager.open(tmp.resolve("a"), hostA, clock)) {
            String ul = signUnchecked(m.requestUsage(key), Long.toString(YEAR_10000),
                    Long.toString(support));

            LicenseInfo verified = LicenseManager.verify(hostA, ul, start);
            assertEquals(Optional.of(Instant.ofEpochSecond(YEAR_10000)), verified.validUntil());
            assertEquals(Optional.of(Instant.ofEpochSecond(support)),
                    verified.feature("support").orElseThrow().expiresAt());

            Status s = m.install(ul);
            assertEquals(LicenseState.ACTIVE, s.state());
            assertEquals(start, s.checkedAt());
            LicenseInfo l = s.license().orElseThrow();
            assertEquals(Optional.of(Instant.ofEpochSecond(YEAR_10000)), l.validUntil());
            assertEquals(Optional.of(start), l.installedAt());
            assertEquals(Optional.of(Instant.ofEpochSecond(support)),
                    l.feature("support").orElseThrow().expiresAt());
            assertEquals(s, m.status());
            assertTrue(m.hasFeature("support"));
            assertTrue(m.statusJson().contains("\"valid_until\": \"+10000-01-01T00:00:00Z\""),
                    m.statusJson());

            clock.set(Instant.ofEpochSecond(YEAR_10000 - 1));
            assertTrue(m.hasFeature("mqtt-server"));
            clock.set(Instant.ofEpochSecond(YEAR_10000));
            assertEquals(LicenseState.EXPIRED, m.status().state());
            assertFalse(m.hasFeature("mqtt-server"));
        }
    }

    @Test
    void timesBeyondInstantMaxAreClampedNotThrown() throws Exception {
        String key = vendor.issue(1, "mqtt-server").key();
        try (LicenseManager m = LicenseManager.open(tmp.resolve("a"), hostA)) {
            // u64::MAX and i64::MAX + 1: beyond what a Java long or Instant holds.
            String ul = signUnchecked(m.requestUsage(key), "9223372036854775808",
                    "18446744073709551615");
            LicenseInfo l = LicenseManager.verify(hostA, ul);
            assertEquals(Optional.of(Instant.MAX), l.validUntil());
            assertEquals(Optional.of(Instant.MAX),
                    l.feature("support").orElseThrow().expiresAt());
            Status s = m.install(ul);
            assertEquals(LicenseState.ACTIVE, s.state());
            assertEquals(Optional.of(Instant.MAX), s.license().orElseThrow().validUntil());
            assertTrue(m.hasFeature("support"));
        }
    }

    /** Every file of a state directory, by name. */
    static Map<String, List<Byte>> files(Path dir) throws IOException {
        Map<String, List<Byte>> out = new TreeMap<>();
        try (Stream<Path> list = Files.list(dir)) {
            for (Path p : list.toList()) {
                byte[] bytes = Files.readAllBytes(p);
                Byte[] boxed = new Byte[bytes.length];
                for (int i = 0; i < bytes.length; i++) {
                    boxed[i] = bytes[i];
                }
                out.put(p.getFileName().toString(), List.of(boxed));
            }
        }
        return out;
    }

    @Test
    void aFailedInstallLeavesTheStateExactlyAsItWas() throws Exception {
        Vendor.Issued issued = vendor.issue(2, "mqtt-server", "support:for=1y");
        ManualClock clock = new ManualClock(Instant.now());
        Path dir = tmp.resolve("a");
        try (LicenseManager m = LicenseManager.open(dir, hostA, clock);
                LicenseManager b = LicenseManager.open(tmp.resolve("b"),
                        vendor.hostConfig("broker-b"))) {
            m.install(vendor.fulfil(m.requestUsage(issued.key())));
            String first = m.requestRenewal();
            String second = m.requestRenewal();
            String superseded = vendor.fulfil(first);
            String otherMachine = vendor.fulfil(b.requestUsage(issued.key()));
            Status before = m.status();
            Map<String, List<Byte>> stored = files(dir);
            assertTrue(before.pendingRequest());
            assertTrue(m.hasFeature("support"));

            record Case(String text, int code) {}
            for (Case c : List.of(new Case("TGUL:garbage", ErrorCode.ARMOR_ENCODING),
                    new Case(otherMachine, ErrorCode.FINGERPRINT_MISMATCH),
                    new Case(superseded, ErrorCode.SUPERSEDED_REQUEST))) {
                LicenseException e = assertThrows(LicenseException.class,
                        () -> m.install(c.text()));
                assertEquals(c.code(), e.code(), e.toString());
                assertEquals(before, m.status(), e.toString());
                assertEquals(stored, files(dir), e.toString());
                assertTrue(m.hasFeature("support"));
                assertEquals(Optional.of(second), m.pendingRequest());
            }
            assertEquals(LicenseState.ACTIVE, m.install(vendor.fulfil(second)).state());
        }
    }
}
