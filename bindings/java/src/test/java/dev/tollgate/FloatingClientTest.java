package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The floating license client against a real {@code tollgate-floating} (system property
 * {@code tollgate.floating}, built by {@code cargo build -p tollgate-floating}) with one seat,
 * activated by the test vendor and serving on 127.0.0.1: checkout, feature check, release, a
 * second client refused while the seat is taken, and the server being down.
 */
class FloatingClientTest {
    private static final Pattern ADDR = Pattern.compile("127\\.0\\.0\\.1:[0-9]+");

    @TempDir
    Path tmp;

    private Vendor vendor;
    private Process server;
    private String url;
    private String deadUrl;

    private static Path bin() {
        Path bin = Path.of(System.getProperty("tollgate.floating",
                "../../target/debug/tollgate-floating"));
        assertTrue(Files.isExecutable(bin), "tollgate-floating is not at " + bin.toAbsolutePath()
                + ": run `cargo build -p tollgate-floating` or set -Dtollgate.floating");
        return bin;
    }

    /** Runs {@code tollgate-floating ARGS} to completion with the server's environment. */
    private String floating(String... args) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(bin().toString()));
        cmd.addAll(List.of(args));
        Path out = Files.createTempFile(tmp, "floating", ".out");
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectOutput(out.toFile())
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        environment(pb.environment());
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "tollgate-floating timed out");
        assertEquals(0, p.exitValue(), () -> "tollgate-floating " + cmd + " failed");
        return Files.readString(out).trim();
    }

    private void environment(Map<String, String> env) {
        env.put("TOLLGATE_FLOATING_STATE_DIR", tmp.resolve("floating").toString());
        env.put("TOLLGATE_HOST_CONFIG", vendor.hostConfigFile.toString());
        env.put("TOLLGATE_FLOATING_COMPONENTS",
                "operator=java-floating-server;workload=java-floating;cloud-instance=i-jf");
        env.put("TOLLGATE_FLOATING_PROBES", "0");
        env.put("TOLLGATE_FLOATING_LISTEN", "127.0.0.1:0");
        env.put("TOLLGATE_LOG_FORMAT", "text");
        env.put("NO_COLOR", "1");
    }

    @BeforeEach
    void startServer() throws Exception {
        vendor = new Vendor(tmp);
        String key = vendor.run("issue", "--product", Vendor.PRODUCT, "--customer", "ACME",
                "--feature", "mqtt-server", "--models", "floating", "--floating-seats", "1")
                .get("key").getAsString();
        String request = floating("request", "--key", key);
        String usage = vendor.run("fulfil", "--model", "floating", request)
                .get("usage_license").getAsString();
        Path tgul = tmp.resolve("floating.tgul");
        Files.writeString(tgul, usage);
        floating("install", tgul.toString());
        serve(null);
        try (ServerSocket s = new ServerSocket(0)) {
            deadUrl = "http://127.0.0.1:" + s.getLocalPort();
        }
    }

    /** Starts {@code tollgate-floating serve}, with a checkout token when one is given. */
    private void serve(String checkoutToken) throws Exception {
        url = null;
        Path log = tmp.resolve("server.log");
        ProcessBuilder pb = new ProcessBuilder(bin().toString(), "serve")
                .redirectErrorStream(true).redirectOutput(log.toFile());
        environment(pb.environment());
        if (checkoutToken != null) {
            pb.environment().put("TOLLGATE_FLOATING_CHECKOUT_TOKEN", checkoutToken);
        }
        server = pb.start();
        for (int i = 0; i < 200 && url == null; i++) {
            Matcher m = ADDR.matcher(Files.readString(log));
            if (m.find()) {
                url = "http://" + m.group();
            } else {
                assertTrue(server.isAlive(), () -> "tollgate-floating exited: " + read(log));
                Thread.sleep(50);
            }
        }
        assertTrue(url != null, () -> "tollgate-floating did not start: " + read(log));
    }

    @AfterEach
    void stopServer() throws InterruptedException {
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
    void checkoutHasFeatureRelease() throws Exception {
        List<String> features = List.of("mqtt-server");
        assertThrows(NullPointerException.class,
                () -> FloatingClient.create(vendor.hostConfig("a"), null, features));
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                () -> FloatingClient.create(vendor.hostConfig("a"), url, List.of())).code());
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                () -> FloatingClient.create(vendor.hostConfig("a"), "ftp://x", features)).code());

        try (FloatingClient a = FloatingClient.create(vendor.hostConfig("a"), url, features);
                FloatingClient b = FloatingClient.create(vendor.hostConfig("b"), url, features)) {
            assertFalse(a.hasFeature("mqtt-server"));
            assertEquals(0, a.leaseId());
            a.checkout();
            long lease = a.leaseId();
            assertNotEquals(0, lease);
            assertTrue(a.hasFeature("mqtt-server"));
            assertFalse(a.hasFeature("support"));
            a.checkout(); // a lease already held is kept
            assertEquals(lease, a.leaseId());

            // A second instance on a's host is another client: it does not take over a's
            // lease, and the only seat is taken.
            assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                    () -> FloatingClient.create(vendor.hostConfig("a"), url, null, features,
                            "x".repeat(129))).code());
            try (FloatingClient second = FloatingClient.create(vendor.hostConfig("a"), url, null,
                    features, "broker-2")) {
                LicenseServiceException e2 =
                        assertThrows(LicenseServiceException.class, second::checkout);
                assertEquals(ErrorCode.SERVICE_NO_SEAT, e2.code());
                assertEquals(lease, a.leaseId());
                assertTrue(a.hasFeature("mqtt-server"));
            }

            // One seat: the second client is refused while it is taken.
            // The server's refusal arrives as its own stable code, 340.
            LicenseServiceException e = assertThrows(LicenseServiceException.class, b::checkout);
            assertEquals(340, e.code());
            assertEquals("NoSeat", e.errorName());
            assertFalse(b.hasFeature("mqtt-server"));

            a.release();
            assertFalse(a.hasFeature("mqtt-server"));
            assertEquals(0, a.leaseId());
            b.checkout();
            assertTrue(b.hasFeature("mqtt-server"));
        }
        // Closing released b's seat.
        FloatingClient c = FloatingClient.create(vendor.hostConfig("c"), url, features);
        c.checkout();
        assertTrue(c.hasFeature("mqtt-server"));
        c.close();
        c.close(); // idempotent
        assertThrows(IllegalStateException.class, () -> c.hasFeature("mqtt-server"));
        assertThrows(IllegalStateException.class, c::checkout);
    }

    @Test
    void checkoutToken() throws Exception {
        stopServer();
        String token = "plant-7-checkout-token-0123";
        serve(token);
        List<String> features = List.of("mqtt-server");
        try (FloatingClient rogue = FloatingClient.create(vendor.hostConfig("r"), url, features);
                FloatingClient good = FloatingClient.create(vendor.hostConfig("g"), url, null,
                        features, "", token)) {
            // Without the token: refused (401 is not a licensing refusal: 231, code in the
            // message), and no seat is taken.
            LicenseServiceException e =
                    assertThrows(LicenseServiceException.class, rogue::checkout);
            assertEquals(ErrorCode.SERVICE_REFUSED, e.code());
            assertTrue(e.getMessage().contains("code 401, Unauthorized"), e.getMessage());
            assertEquals(0, rogue.leaseId());
            good.checkout();
            assertTrue(good.hasFeature("mqtt-server"));
            good.release();
        }
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                () -> FloatingClient.create(vendor.hostConfig("x"), url, null, features, "",
                        "has space")).code());
    }

    @Test
    void serverDown() throws Exception {
        try (FloatingClient d = FloatingClient.create(vendor.hostConfig("d"), deadUrl,
                List.of("mqtt-server"))) {
            LicenseServiceException e = assertThrows(LicenseServiceException.class, d::checkout);
            assertEquals(ErrorCode.SERVICE_UNREACHABLE, e.code());
            assertFalse(d.hasFeature("mqtt-server"));
            assertEquals(0, d.leaseId());
        }
    }
}
