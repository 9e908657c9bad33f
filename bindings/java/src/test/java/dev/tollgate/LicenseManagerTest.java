package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.time.Instant;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Every {@link LicenseManager} method and every host-runtime error it can report, over real
 * round trips with the vendor CLI.
 */
class LicenseManagerTest {
    @TempDir
    Path tmp;
    Vendor vendor;
    HostConfig hostA;

    @BeforeEach
    void setUp() throws IOException, LicenseException {
        vendor = new Vendor(tmp);
        hostA = vendor.hostConfig("broker-a");
    }

    /** Opens host A's state {@code name}, requests for {@code key} and installs the answer. */
    private LicenseManager activated(String name, String key) throws Exception {
        LicenseManager m = LicenseManager.open(tmp.resolve(name), hostA);
        m.install(vendor.fulfil(m.requestUsage(key)));
        return m;
    }

    private static <E extends LicenseException> E assertCode(Class<E> type, int code,
            org.junit.jupiter.api.function.Executable call) {
        E e = assertThrows(type, call);
        assertEquals(code, e.code(), e.toString());
        assertSame(type, e.getClass(), e.toString());
        return e;
    }

    @Test
    void offlineLifecycle() throws Exception {
        Vendor.Issued issued = vendor.issue(1, "mqtt-server", "support:for=1y",
                "iot-bridge-snowflake:1000/month", "--offline-refresh-days=0");
        try (LicenseManager m = LicenseManager.open(tmp.resolve("a"), hostA)) {
            // Nothing yet.
            Status s = m.status();
            assertEquals(LicenseState.UNLICENSED, s.state());
            assertEquals("chariot", s.product());
            assertEquals("4.2.0", s.productVersion());
            assertFalse(s.pendingRequest());
            assertEquals(Optional.empty(), s.license());
            assertEquals(Optional.empty(), s.error());
            assertFalse(m.hasFeature("mqtt-server"));
            assertTrue(m.statusJson().contains("\"state\": \"unlicensed\""), m.statusJson());
            assertCode(LicenseStateException.class, ErrorCode.NOT_ACTIVATED, m::check);
            assertCode(LicenseStateException.class, ErrorCode.NOT_ACTIVATED, m::deactivate);
            assertCode(LicenseStateException.class, ErrorCode.NOT_ACTIVATED, m::requestRenewal);
            assertCode(LicenseStateException.class, ErrorCode.NOT_ACTIVATED,
                    () -> m.recordUsage("iot-bridge-snowflake", 1));
            assertEquals(Optional.empty(), m.pendingRequest());
            assertEquals(Optional.empty(), m.lastDeactivationCode());

            // 1. The usage request.
            String request = m.requestUsage(issued.key().toLowerCase().replace("-", " "));
            assertTrue(request.startsWith("TGRQ:"));
            assertEquals(LicenseState.PENDING, m.status().state());
            assertEquals(Optional.of(request), m.pendingRequest());

            // 2. The vendor's answer, installed.
            String usageLicense = vendor.fulfil(request);
            Instant before = Instant.now().minusSeconds(1);
            s = m.install(usageLicense);
            assertEquals(LicenseState.ACTIVE, s.state());
            assertFalse(s.pendingRequest());
            assertEquals(Optional.of(issued.licenseId()), s.licenseId());
            assertEquals(Optional.of("ACME Industrial"), s.customer());
            LicenseInfo l = s.license().orElseThrow();
            assertEquals(DeploymentModel.OFFLINE, l.deploymentModel());
            assertEquals(1, l.revision());
            assertTrue(l.activationId() > 0);
            assertEquals(new FingerprintMatch(5, 5, 3, true), l.fingerprint());
            assertEquals(16, l.vendorKeyId().length());
            assertFalse(l.installedAt().orElseThrow().isBefore(before));
            assertEquals(Optional.empty(), l.validUntil());
            assertEquals(List.of("mqtt-server", "support", "iot-bridge-snowflake"),
                    s.features().stream().map(FeatureStatus::name).toList());
            FeatureStatus support = s.feature("support").orElseThrow();
            assertEquals(FeatureKind.SUBSCRIPTION, support.kind());
            assertTrue(support.active());
            assertTrue(support.expiresAt().orElseThrow().isAfter(Instant.now().plus(
                    Duration.ofDays(360))));
            FeatureStatus meter = s.feature("iot-bridge-snowflake").orElseThrow();
            assertEquals(FeatureKind.METERED, meter.kind());
            assertEquals(1000, meter.quota().getAsLong());
            assertEquals(Optional.of("month"), meter.period());
            assertEquals(0, meter.used().getAsLong());
            assertEquals(FeatureKind.PERPETUAL, s.feature("mqtt-server").orElseThrow().kind());
            assertEquals(List.of(), s.warnings());
            assertEquals(Optional.empty(), s.error());
            assertEquals(s.license(), m.status().license());
            assertThrows(UnsupportedOperationException.class, () -> l.features().clear());
            m.check();
            assertEquals(LicenseState.ACTIVE, m.refresh().state());
            assertTrue(m.statusJson().contains("\"state\": \"active\""));

            // Feature checks.
            assertTrue(m.hasFeature("mqtt-server"));
            assertTrue(m.hasFeature("support"));
            assertTrue(m.hasFeature("iot-bridge-snowflake"));
            assertFalse(m.hasFeature("mqtt-bridge"));
            assertFalse(m.hasFeature(""));
            assertFalse(m.hasFeature("mqtt-server\u00e9\u0000"));

            // Meters.
            MeterReading r = m.recordUsage("iot-bridge-snowflake", 400);
            assertEquals(new MeterReading("iot-bridge-snowflake", "month", r.periodStart(),
                    r.periodEnd(), 400, 1000, 600), r);
            assertTrue(r.periodStart().isBefore(Instant.now()));
            assertTrue(r.periodEnd().isAfter(Instant.now()));
            assertEquals(r, m.meter("iot-bridge-snowflake"));
            assertCode(LicenseStateException.class, ErrorCode.QUOTA_EXCEEDED,
                    () -> m.recordUsage("iot-bridge-snowflake", 601));
            assertEquals(400, m.meter("iot-bridge-snowflake").used());
            assertEquals(1000, m.recordUsage("iot-bridge-snowflake", 600).used());
            // A used-up quota does not switch the feature off: hasFeature answers whether it
            // is licensed; only recordUsage refuses (QUOTA_EXCEEDED), as in Rust and C.
            assertCode(LicenseStateException.class, ErrorCode.QUOTA_EXCEEDED,
                    () -> m.recordUsage("iot-bridge-snowflake", 1));
            assertTrue(m.hasFeature("iot-bridge-snowflake"));
            assertEquals(1000, m.status().feature("iot-bridge-snowflake").orElseThrow().used()
                    .getAsLong());
            assertCode(LicenseStateException.class, ErrorCode.NOT_METERED,
                    () -> m.recordUsage("mqtt-server", 1));
            assertCode(LicenseStateException.class, ErrorCode.UNKNOWN_FEATURE,
                    () -> m.meter("mqtt-bridge"));
            assertCode(LicenseException.class, ErrorCode.INVALID_ARGUMENT,
                    () -> m.recordUsage("iot-bridge-snowflake", -1));

            // The usage journal: the 1000 units recorded are cut into report 1.
            String journal = m.usageJournal();
            String[] lines = journal.split("\n", -1);
            assertEquals(3, lines.length, journal);
            assertEquals("# tollgate usage journal: TGUR reports, one a line, in seq order",
                    lines[0]);
            assertTrue(lines[1].startsWith("TGUR:"), lines[1]);
            assertEquals("", lines[2]);
            // Nothing new accrued: the same report, not a new one.
            assertEquals(journal, m.usageJournal());

            // Installing the installed license again changes nothing.
            assertEquals(LicenseState.ACTIVE, m.install(usageLicense).state());

            // A license for another key cannot be requested while one is installed.
            Vendor.Issued other = vendor.issue(1, "mqtt-server");
            assertCode(LicenseStateException.class, ErrorCode.ALREADY_ACTIVATED,
                    () -> m.requestUsage(other.key()));

            // 3. The upgrade round trip: a renewal supersedes the first request.
            String renewal = m.requestRenewal();
            Status pending = m.status();
            assertEquals(LicenseState.ACTIVE, pending.state());
            assertTrue(pending.pendingRequest());
            assertCode(LicenseStateException.class, ErrorCode.SUPERSEDED_REQUEST,
                    () -> m.install(usageLicense));
            String upgraded = vendor.fulfil(renewal);
            assertEquals(LicenseState.ACTIVE, m.install(upgraded).state());
            assertFalse(m.status().pendingRequest());
            assertCode(LicenseStateException.class, ErrorCode.SUPERSEDED_REQUEST,
                    () -> m.install(usageLicense));

            // 4. Deactivation.
            String code = m.deactivate();
            assertTrue(code.startsWith("TGDC:"), code);
            assertEquals(Optional.of(code), m.lastDeactivationCode());
            assertEquals(LicenseState.UNLICENSED, m.status().state());
            assertFalse(m.hasFeature("mqtt-server"));
            assertCode(LicenseStateException.class, ErrorCode.NOT_ACTIVATED, m::deactivate);
            assertCode(LicenseStateException.class, ErrorCode.DEACTIVATED,
                    () -> m.install(upgraded));
            assertTrue(vendor.deactivate(code).get("freed").getAsBoolean());

            // The seat is free again: a new round trip works.
            m.install(vendor.fulfil(m.requestUsage(issued.key())));
            assertTrue(m.hasFeature("mqtt-server"));
        }
    }

    @Test
    void artifactsAreRejectedWithTheirCoreCodes() throws Exception {
        Vendor.Issued issued = vendor.issue(2, "mqtt-server");
        try (LicenseManager a = LicenseManager.open(tmp.resolve("a"), hostA);
                LicenseManager b = LicenseManager.open(tmp.resolve("b"),
                        vendor.hostConfig("broker-b"))) {
            a.requestUsage(issued.key());
            String forB = vendor.fulfil(b.requestUsage(issued.key()));
            assertCode(InvalidArtifactException.class, ErrorCode.FINGERPRINT_MISMATCH,
                    () -> a.install(forB));
            assertCode(InvalidArtifactException.class, ErrorCode.ARMOR_PREFIX,
                    () -> a.install("hello"));
            int mid = forB.length() / 2;
            String altered = forB.substring(0, mid) + (forB.charAt(mid) == 'A' ? 'B' : 'A')
                    + forB.substring(mid + 1);
            assertCode(InvalidArtifactException.class, ErrorCode.ARMOR_CHECKSUM,
                    () -> a.install(altered));
            assertCode(InvalidArtifactException.class, ErrorCode.WRONG_ARTIFACT_TYPE,
                    () -> a.install(a.pendingRequest().orElseThrow()));
            assertCode(InvalidArtifactException.class, ErrorCode.KEY_CHECKSUM,
                    () -> a.requestUsage(issued.key().substring(0, 28) + (issued.key()
                            .endsWith("A") ? "B" : "A")));
            assertCode(InvalidArtifactException.class, ErrorCode.KEY_FORMAT,
                    () -> a.requestUsage("not a key"));
            // Another vendor, with a root of its own: its key is not certified by ours.
            Vendor other = new Vendor(Files.createDirectory(tmp.resolve("other-vendor")), true);
            String foreign = other.fulfil(a.requestUsage(other.issue(1, "mqtt-server").key()));
            assertCode(InvalidArtifactException.class, ErrorCode.KEY_NOT_CERTIFIED,
                    () -> a.install(foreign));
            assertCode(InvalidArtifactException.class, ErrorCode.KEY_NOT_CERTIFIED,
                    () -> LicenseManager.verify(hostA, foreign));
            // Stateless verification on the right machine and on the wrong one.
            LicenseInfo info = LicenseManager.verify(vendor.hostConfig("broker-b"), forB);
            assertEquals(issued.licenseId(), info.licenseId());
            assertEquals(Optional.empty(), info.installedAt());
            assertCode(InvalidArtifactException.class, ErrorCode.FINGERPRINT_MISMATCH,
                    () -> LicenseManager.verify(hostA, forB));
            assertCode(LicenseException.class, ErrorCode.INVALID_ARGUMENT,
                    () -> LicenseManager.verify(hostA, forB, Instant.ofEpochSecond(-5)));
        }
    }

    @Test
    void requestAndDeviceStateErrors() throws Exception {
        Vendor.Issued issued = vendor.issue(3, "mqtt-server");
        Vendor.Issued second = vendor.issue(1, "mqtt-server");
        try (LicenseManager a = activated("a", issued.key());
                LicenseManager fresh = LicenseManager.open(tmp.resolve("fresh"), hostA);
                LicenseManager other = LicenseManager.open(tmp.resolve("other"), hostA)) {
            String installed = vendor.fulfil(a.requestRenewal());
            // A state that never made a request.
            assertCode(LicenseStateException.class, ErrorCode.NO_PENDING_REQUEST,
                    () -> fresh.install(installed));
            // A state on the same machine that made its own request.
            other.requestUsage(second.key());
            assertCode(LicenseStateException.class, ErrorCode.WRONG_DEVICE,
                    () -> other.install(installed));
            // Once installed, the installed license's request has no pending answer left.
            a.install(installed);
            assertEquals(Optional.empty(), a.pendingRequest());
            assertEquals(LicenseState.ACTIVE, a.install(installed).state());
        }
    }

    @Test
    void unknownRequestAfterRestoringAnOldBackup() throws Exception {
        Vendor.Issued issued = vendor.issue(1, "mqtt-server");
        Path state = tmp.resolve("state");
        Path backup = tmp.resolve("backup");
        try (LicenseManager m = LicenseManager.open(state, hostA)) {
            m.requestUsage(issued.key());
        }
        copyDir(state, backup);
        String renewal;
        try (LicenseManager m = LicenseManager.open(state, hostA)) {
            renewal = m.requestRenewal();
        }
        String answer = vendor.fulfil(renewal);
        deleteDir(state);
        copyDir(backup, state);
        try (LicenseManager m = LicenseManager.open(state, hostA)) {
            assertCode(LicenseStateException.class, ErrorCode.UNKNOWN_REQUEST,
                    () -> m.install(answer));
        }
    }

    @Test
    void storageErrors() throws Exception {
        Path dir = tmp.resolve("state");
        try (LicenseManager m = LicenseManager.open(dir, hostA)) {
            assertCode(StateStorageException.class, ErrorCode.STATE_LOCKED,
                    () -> LicenseManager.open(dir, hostA));
            m.requestUsage(vendor.issue(1, "mqtt-server").key());
        }
        // Closed: the lock is released.
        LicenseManager.open(dir, hostA).close();

        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        assertCode(StateStorageException.class, ErrorCode.STORAGE,
                () -> LicenseManager.open(file, hostA));

        Files.writeString(dir.resolve("state.json"), "{ not json");
        assertCode(StateStorageException.class, ErrorCode.CORRUPT_STATE,
                () -> LicenseManager.open(dir, hostA));
        Files.writeString(dir.resolve("state.json"),
                "{\"format\":\"tollgate-host-state\",\"version\":99}");
        assertCode(StateStorageException.class, ErrorCode.UNSUPPORTED_STATE_VERSION,
                () -> LicenseManager.open(dir, hostA));
    }

    @Test
    void configurationErrors() throws Exception {
        Path dir = tmp.resolve("state");
        assertCode(LicenseException.class, ErrorCode.INVALID_ARGUMENT,
                () -> LicenseManager.open(dir, hostA.toBuilder().product("").build()));
        assertCode(LicenseException.class, ErrorCode.INVALID_ARGUMENT,
                () -> LicenseManager.open(dir, hostA.toBuilder().warnDays(-1).build()));
        // The root: 32 bytes of a valid ed25519 key, always given.
        for (int len : new int[] {0, 31, 33}) {
            assertCode(LicenseException.class, ErrorCode.INVALID_ARGUMENT,
                    () -> LicenseManager.open(dir, hostA.toBuilder()
                            .vendorRoot(new byte[len]).build()));
            assertCode(LicenseException.class, ErrorCode.INVALID_ARGUMENT,
                    () -> HostConfig.fromFile(vendor.hostConfigFile, new byte[len]));
        }
        assertCode(InvalidArtifactException.class, ErrorCode.BAD_PUBLIC_KEY,
                () -> LicenseManager.open(dir, hostA.toBuilder().vendorRoot(new byte[32])
                        .build()));
        assertThrows(NullPointerException.class, () -> HostConfig.builder(null));
        assertThrows(NullPointerException.class,
                () -> HostConfig.builder(VendorRoot.key()).build());
        assertThrows(NullPointerException.class, () -> LicenseManager.open(dir, null));
        assertThrows(NullPointerException.class, () -> HostConfig.fromJson("{}", null));
        assertCode(LicenseException.class, ErrorCode.INVALID_ARGUMENT,
                () -> HostConfig.fromJson("{}", VendorRoot.key()));
        // A component of a kind the probes read needs the explicit override.
        assertCode(LicenseException.class, ErrorCode.COMPONENT_OVERRIDE,
                () -> LicenseManager.open(dir, hostA.toBuilder().allowOverride(false).build()));
        // A certificate that is not one.
        assertCode(InvalidArtifactException.class, ErrorCode.ARMOR_ENCODING,
                () -> LicenseManager.open(dir, hostA.toBuilder().keyCertificate("TGKC:garbage")
                        .build()));

        // The host configuration file round trip: options only.
        HostConfig file = HostConfig.fromFile(vendor.hostConfigFile, VendorRoot.key());
        assertEquals("chariot", file.product());
        assertEquals(Vendor.SALT, new String(file.fingerprintSalt(), "UTF-8"));
        assertArrayEquals(VendorRoot.key(), file.vendorRoot());
        assertTrue(file.probes());
        assertFalse(file.allowOverride());
        assertEquals(30, file.warnDays());
        assertEquals(2, file.minComponents());
        assertEquals(5, hostA.componentKinds().size());
        assertFalse(hostA.probes());

        // No probes and no components: no fingerprint, reported when one is needed.
        HostConfig nothing = file.toBuilder().noProbes().build();
        try (LicenseManager m = LicenseManager.open(dir, nothing)) {
            assertCode(LicenseException.class, ErrorCode.FINGERPRINT,
                    () -> m.requestUsage(vendor.issue(1, "mqtt-server").key()));
        }
    }

    @Test
    void theConfigurationFileHoldsOptionsOnly() throws Exception {
        String honest = Files.readString(vendor.hostConfigFile);
        String[] fields = {"\"vendor_keys\": [\"" + "8a".repeat(32) + "\"]",
            "\"vendor_root\": \"" + "8a".repeat(32) + "\"", "\"rollback_tolerance_secs\": 999999"};
        for (String field : fields) {
            String swapped = honest.replaceFirst("\\{", "{" + field + ", ");
            LicenseException e = assertCode(LicenseException.class, ErrorCode.UNTRUSTED_CONFIG,
                    () -> HostConfig.fromJson(swapped, VendorRoot.key()));
            assertTrue(e.getMessage().contains(field.substring(1, field.indexOf('"', 1))),
                    e.getMessage());
        }
    }

    /**
     * Issue 11: the customer runs {@code tollgate vendor init} in a directory of their own (a
     * root and a signing key of their own), puts that key into the host JSON and mints a usage
     * license with every feature until 2099. The root is compiled in: refused, nothing changes.
     */
    @Test
    void aLicenseMintedByTheCustomersOwnVendorIsRefused() throws Exception {
        Vendor mallory = new Vendor(tmp.resolve("mallory"), true);
        String malloryKey = mallory.run("key", "list").getAsJsonArray("keys").get(0)
                .getAsJsonObject().get("public_key").getAsString();
        String swapped = Files.readString(vendor.hostConfigFile)
                .replaceFirst("\\{", "{\"vendor_keys\": [\"" + malloryKey + "\"], ");
        assertCode(LicenseException.class, ErrorCode.UNTRUSTED_CONFIG,
                () -> HostConfig.fromJson(swapped, VendorRoot.key()));

        HostConfig hostB = vendor.hostConfig("broker-b");
        try (LicenseManager licensed = activated("licensed", vendor.issue(1, "mqtt-server").key());
                LicenseManager fresh = LicenseManager.open(tmp.resolve("fresh"), hostB)) {
            Vendor.Issued forged = mallory.issue(99, "mqtt-server", "support:until=2099-12-31",
                    "iot-bridge-snowflake:999999999/month");
            String minted = mallory.fulfil(fresh.requestUsage(forged.key()));
            assertTrue(minted.startsWith("TGUL:"));
            String beforeFresh = fresh.statusJson();
            String beforeLicensed = licensed.statusJson();
            assertCode(InvalidArtifactException.class, ErrorCode.KEY_NOT_CERTIFIED,
                    () -> fresh.install(minted));
            assertCode(InvalidArtifactException.class, ErrorCode.KEY_NOT_CERTIFIED,
                    () -> licensed.install(minted));
            assertCode(InvalidArtifactException.class, ErrorCode.KEY_NOT_CERTIFIED,
                    () -> LicenseManager.verify(hostB, minted, Instant.now()));
            assertEquals(beforeFresh, fresh.statusJson());
            assertEquals(beforeLicensed, licensed.statusJson());
            assertEquals(LicenseState.PENDING, fresh.status().state());
            assertFalse(fresh.hasFeature("mqtt-server") || fresh.hasFeature("support"));
            assertTrue(licensed.hasFeature("mqtt-server"));
            assertFalse(licensed.hasFeature("support"));
        }

        // The customer's own host configuration carries their root's certificate of their
        // key: it counts for nothing.
        HostConfig theirs = HostConfig.fromFile(mallory.hostConfigFile, VendorRoot.key())
                .toBuilder().noProbes().allowOverride(true)
                .component(ComponentKind.MACHINE_ID, "m").component(ComponentKind.MAC, "m")
                .build();
        assertFalse(theirs.keyCertificates().isEmpty());
        // Signed by a root this host does not know.
        assertCode(InvalidArtifactException.class, ErrorCode.UNKNOWN_KEY_ID,
                () -> LicenseManager.open(tmp.resolve("mallory-host"), theirs));
    }

    @Test
    void hostPolicyFingerprintMinimumAndDeploymentModel() throws Exception {
        HostConfig one = HostConfig.fromFile(vendor.hostConfigFile, VendorRoot.key()).toBuilder()
                .noProbes().component(ComponentKind.OPERATOR, "operator-1").build();
        try (LicenseManager m = LicenseManager.open(tmp.resolve("one"), one)) {
            assertCode(LicenseException.class, ErrorCode.TOO_FEW_COMPONENTS,
                    () -> m.requestUsage(vendor.issue(1, "mqtt-server").key()));
            assertEquals(LicenseState.UNLICENSED, m.status().state());
        }
        try (LicenseManager m = LicenseManager.open(tmp.resolve("floating"), hostA)) {
            String key = vendor.issue(1, "mqtt-server", "--models=floating",
                    "--floating-seats=1").key();
            String floating = vendor.fulfil(m.requestUsage(key), "floating");
            String before = m.statusJson();
            assertCode(LicenseStateException.class, ErrorCode.WRONG_MODEL,
                    () -> m.install(floating));
            assertEquals(before, m.statusJson());
            assertFalse(m.hasFeature("mqtt-server"));
        }
    }

    @Test
    void clockRollbackWithAManualClock() throws Exception {
        Instant t0 = Instant.ofEpochSecond(Instant.now().getEpochSecond());
        ManualClock clock = new ManualClock(t0);
        assertEquals(t0, clock.now());
        Vendor.Issued issued = vendor.issue(1, "mqtt-server", "support:for=1y",
                "--offline-refresh-days=0");
        try (LicenseManager m = LicenseManager.open(tmp.resolve("a"), hostA, clock)) {
            m.install(vendor.fulfil(m.requestUsage(issued.key())));
            assertTrue(m.hasFeature("mqtt-server"));
            clock.advance(Duration.ofMinutes(30)); // seen: now + 30 min
            m.refresh();
            clock.advance(Duration.ofMinutes(-50)); // within the one-hour tolerance
            assertTrue(m.hasFeature("mqtt-server"));
            clock.advance(Duration.ofHours(-2));
            assertFalse(m.hasFeature("mqtt-server"));
            Status s = m.status();
            assertEquals(LicenseState.CLOCK_ROLLBACK, s.state());
            assertEquals(ErrorCode.CLOCK_ROLLBACK, s.error().orElseThrow().code());
            assertEquals("ClockRollback", s.error().orElseThrow().name());
            assertCode(LicenseStateException.class, ErrorCode.CLOCK_ROLLBACK, m::check);
            // A request carries no trust: allowed while the clock reads early, so that a host
            // whose clock ran ahead can recover with the vendor's signed answer.
            assertTrue(m.requestRenewal().startsWith("TGRQ:"));
            clock.advance(Duration.ofHours(3));
            assertTrue(m.hasFeature("mqtt-server"));
            // A year later, support has expired and a warning says so; mqtt-server stays.
            clock.advance(Duration.ofDays(366));
            s = m.status();
            assertEquals(LicenseState.ACTIVE, s.state());
            assertFalse(s.feature("support").orElseThrow().active());
            assertTrue(s.warnings().get(0).startsWith("support expired on "), s.warnings()
                    .toString());
            assertFalse(m.hasFeature("support"));
            assertTrue(m.hasFeature("mqtt-server"));
        }
        assertCode(LicenseException.class, ErrorCode.INVALID_ARGUMENT,
                () -> new ManualClock(Instant.ofEpochSecond(-1)));
        assertEquals(t0.plus(Duration.ofDays(366)).plus(Duration.ofMinutes(40)), clock.now());
    }

    @Test
    void closedManagersRefuseCalls() throws Exception {
        LicenseManager m = LicenseManager.open(tmp.resolve("a"), hostA);
        m.close();
        m.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> m.hasFeature("mqtt-server"));
        assertThrows(IllegalStateException.class, m::status);
        assertThrows(IllegalStateException.class, m::statusJson);
        assertThrows(IllegalStateException.class, () -> m.requestUsage("x"));
        assertThrows(IllegalStateException.class, m::deactivate);
        assertThrows(NullPointerException.class, () -> m.hasFeature(null));
        // The state directory is free again.
        LicenseManager.open(tmp.resolve("a"), hostA).close();
    }

    @Test
    void theCleanerClosesForgottenManagers() throws Exception {
        Path dir = tmp.resolve("a");
        openAndForget(dir);
        assertCode(StateStorageException.class, ErrorCode.STATE_LOCKED,
                () -> LicenseManager.open(dir, hostA).close());
        long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
        while (true) {
            System.gc();
            try {
                LicenseManager.open(dir, hostA).close();
                return;
            } catch (StateStorageException e) {
                if (System.nanoTime() > deadline) {
                    throw e;
                }
                Thread.sleep(50);
            }
        }
    }

    private void openAndForget(Path dir) throws LicenseException {
        LicenseManager.open(dir, hostA).hasFeature("x");
    }

    static void copyDir(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        try (Stream<Path> files = Files.list(from)) {
            for (Path f : files.toList()) {
                Files.copy(f, to.resolve(f.getFileName()));
            }
        }
    }

    static void deleteDir(Path dir) throws IOException {
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.toList()) {
                Files.delete(f);
            }
        }
        Files.delete(dir);
    }
}
