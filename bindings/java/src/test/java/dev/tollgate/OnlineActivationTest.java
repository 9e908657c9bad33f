package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Online activation against a real {@code tollgate-server} (system property
 * {@code tollgate.server}, built by {@code cargo build -p tollgate-server}) serving the test
 * vendor's directory on 127.0.0.1: activate, feature check, reactivate, deactivate, and the
 * service being down.
 */
class OnlineActivationTest {
    private static final Pattern ADDR = Pattern.compile("127\\.0\\.0\\.1:[0-9]+");

    @TempDir
    Path tmp;

    private Vendor vendor;
    private Vendor.Issued issued;
    private Process server;
    private String url;
    private String deadUrl;

    @BeforeEach
    void startService() throws Exception {
        vendor = new Vendor(tmp);
        // The service serves the ledger the CLI (the vendor) wrote.
        issued = vendor.issue(1, "mqtt-server");
        Path bin = Path.of(
                System.getProperty("tollgate.server", "../../target/debug/tollgate-server"));
        assertTrue(Files.isExecutable(bin), "tollgate-server is not at " + bin.toAbsolutePath()
                + ": run `cargo build -p tollgate-server` or set -Dtollgate.server");
        Path log = tmp.resolve("server.log");
        ProcessBuilder pb = new ProcessBuilder(bin.toString()).redirectErrorStream(true)
                .redirectOutput(log.toFile());
        pb.environment().put("TOLLGATE_DATA_DIR", vendor.dir.resolve("vendor").toString());
        pb.environment().put("TOLLGATE_LISTEN", "127.0.0.1:0");
        pb.environment().put("TOLLGATE_LOG_FORMAT", "text");
        pb.environment().put("TOLLGATE_ADMIN_TOKEN", "java-online-test-admin-token");
        pb.environment().put("NO_COLOR", "1");
        server = pb.start();
        for (int i = 0; i < 200 && url == null; i++) {
            Matcher m = ADDR.matcher(Files.readString(log));
            if (m.find()) {
                url = "http://" + m.group();
            } else {
                assertTrue(server.isAlive(), () -> "tollgate-server exited: " + read(log));
                Thread.sleep(50);
            }
        }
        assertTrue(url != null, () -> "tollgate-server did not start: " + read(log));
        try (ServerSocket s = new ServerSocket(0)) {
            deadUrl = "http://127.0.0.1:" + s.getLocalPort();
        }
    }

    @AfterEach
    void stopService() throws InterruptedException {
        if (server != null) {
            server.destroy();
            server.waitFor(10, TimeUnit.SECONDS);
        }
    }

    private static String read(Path p) {
        try {
            return Files.readString(p);
        } catch (IOException e) {
            return e.toString();
        }
    }

    @Test
    void activateReactivateDeactivate() throws Exception {
        try (LicenseManager m = LicenseManager.open(tmp.resolve("host"), vendor.hostConfig("m1"))) {
            assertThrows(NullPointerException.class, () -> m.activateOnline(null, issued.key()));
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                    () -> m.activateOnline("ftp://example.com", issued.key())).code());
            assertEquals(ErrorCode.NOT_ACTIVATED, assertThrows(LicenseException.class,
                    () -> m.reactivateOnline(url)).code());
            assertFalse(m.hasFeature("mqtt-server"));

            Status s = m.activateOnline(url, issued.key());
            assertEquals(LicenseState.ACTIVE, s.state());
            LicenseInfo info = s.license().orElseThrow();
            assertEquals(issued.licenseId(), info.licenseId());
            assertEquals(DeploymentModel.ONLINE, info.deploymentModel());
            assertTrue(info.refreshDeadline().isPresent());
            assertTrue(m.hasFeature("mqtt-server"));

            Status again = m.reactivateOnline(url);
            assertEquals(LicenseState.ACTIVE, again.state());
            assertEquals(info.activationId(), again.license().orElseThrow().activationId());
            assertTrue(m.hasFeature("mqtt-server"));

            String code = m.deactivateOnline(url);
            assertTrue(code.startsWith("TGDC:"));
            assertFalse(m.hasFeature("mqtt-server"));
            LicenseManager.sendDeactivation(url, code); // already processed: still fine
        }
    }

    @Test
    void serviceDown() throws Exception {
        try (LicenseManager m = LicenseManager.open(tmp.resolve("host"), vendor.hostConfig("m2"))) {
            LicenseServiceException e = assertThrows(LicenseServiceException.class,
                    () -> m.activateOnline(deadUrl, issued.key()));
            assertEquals(ErrorCode.SERVICE_UNREACHABLE, e.code());
            assertFalse(m.hasFeature("mqtt-server"));

            m.activateOnline(url, issued.key());
            assertEquals(ErrorCode.SERVICE_UNREACHABLE, assertThrows(
                    LicenseServiceException.class, () -> m.reactivateOnline(deadUrl)).code());
            assertTrue(m.hasFeature("mqtt-server"));

            // The host is deactivated even though the service is down; the code goes later.
            assertEquals(ErrorCode.SERVICE_UNREACHABLE, assertThrows(
                    LicenseServiceException.class, () -> m.deactivateOnline(deadUrl)).code());
            assertFalse(m.hasFeature("mqtt-server"));
            String code = m.lastDeactivationCode().orElseThrow();
            LicenseManager.sendDeactivation(url, code);
        }
    }

    @Test
    void marketplaceWithoutMetadataServiceLicensesNothing() throws Exception {
        try (LicenseManager m = LicenseManager.open(tmp.resolve("host"), vendor.hostConfig("m3"))) {
            assertThrows(NullPointerException.class,
                    () -> m.startMarketplace(null, url, null, deadUrl));
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                    () -> m.startMarketplace("gcp", url, null, deadUrl)).code());
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                    () -> m.startMarketplace("aws", url, null, "file:///x")).code());
            for (String cloud : new String[] {"aws", "azure"}) {
                LicenseServiceException e = assertThrows(LicenseServiceException.class,
                        () -> m.startMarketplace(cloud, url, null, deadUrl));
                assertEquals(ErrorCode.METADATA_UNREACHABLE, e.code());
                assertEquals("MetadataUnreachable", e.errorName());
            }
            assertFalse(m.hasFeature("mqtt-server"));
            assertTrue(m.status().license().isEmpty());
            assertEquals(DeploymentModel.MARKETPLACE, DeploymentModel.fromName("marketplace"));
        }
    }
}
