package dev.tollgate.example;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.tollgate.FeatureStatus;
import dev.tollgate.LicenseManager;
import dev.tollgate.LicenseState;
import dev.tollgate.Status;
import dev.tollgate.VendorAccess;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Arrays;
import java.util.concurrent.ArrayBlockingQueue;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.TimeUnit;
import org.eclipse.paho.client.mqttv3.MqttClient;
import org.eclipse.paho.client.mqttv3.MqttConnectOptions;
import org.eclipse.paho.client.mqttv3.MqttException;
import org.eclipse.paho.client.mqttv3.persist.MemoryPersistence;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * End to end: the embedded Moquette broker licensed through the Java binding, driven by the
 * Eclipse Paho client on loopback. Licensed, unlicensed, Support expired and deactivated.
 */
class LicensedBrokerTest {
    private static final String USER = "plant-gateway";
    private static final char[] PASSWORD = "s3cret".toCharArray();

    @TempDir
    Path tmp;
    VendorAccess vendor;
    LicenseManager licensing;
    LicensedBroker broker;
    int port;

    @BeforeEach
    void setUp() throws Exception {
        vendor = new VendorAccess(tmp);
        licensing = LicenseManager.open(tmp.resolve("broker-state"), vendor.hostConfig("broker"));
    }

    @AfterEach
    void tearDown() {
        if (broker != null) {
            broker.close();
        }
        licensing.close();
    }

    private void activate(String... features) throws Exception {
        String key = vendor.issue(1, features);
        licensing.install(vendor.fulfil(licensing.requestUsage(key)));
    }

    private void startBroker() throws IOException {
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        broker = new LicensedBroker(licensing, "127.0.0.1", port, (clientId, user, password) ->
                USER.equals(user) && Arrays.equals(new String(PASSWORD).getBytes(
                        StandardCharsets.UTF_8), password));
    }

    /** Connects, and waits until the broker has finished accepting the client (bounded). */
    private MqttClient connect(String clientId) throws MqttException, InterruptedException {
        MqttClient client = new MqttClient("tcp://127.0.0.1:" + port, clientId,
                new MemoryPersistence());
        MqttConnectOptions options = new MqttConnectOptions();
        options.setUserName(USER);
        options.setPassword(PASSWORD);
        options.setConnectionTimeout(10);
        options.setAutomaticReconnect(false);
        client.connect(options);
        assertTrue(broker.awaitConnected(clientId, Duration.ofSeconds(10)),
                "the broker finished accepting " + clientId);
        return client;
    }

    private void assertRefused(String clientId) {
        MqttException e = assertThrows(MqttException.class, () -> connect(clientId).close());
        assertTrue(e.getReasonCode() == MqttException.REASON_CODE_FAILED_AUTHENTICATION
                || e.getReasonCode() == MqttException.REASON_CODE_NOT_AUTHORIZED,
                "reason " + e.getReasonCode() + ": " + e);
    }

    /** Publishes to a topic the client subscribed to and waits for the message. */
    private static void roundTrip(MqttClient client) throws Exception {
        BlockingQueue<String> received = new ArrayBlockingQueue<>(1);
        client.subscribe("plant/line-1/temperature", 1,
                (topic, message) -> received.add(new String(message.getPayload(),
                        StandardCharsets.UTF_8)));
        client.publish("plant/line-1/temperature", "21.5".getBytes(StandardCharsets.UTF_8), 1,
                false);
        assertEquals("21.5", received.poll(10, TimeUnit.SECONDS));
    }

    @Test
    void licensedBrokerServesClients() throws Exception {
        activate("mqtt-server", "support:for=1y");
        startBroker();
        MqttClient client = connect("licensed");
        roundTrip(client);
        assertEquals(1, broker.connectedClients());
        client.disconnect();
        client.close();
        // The broker's own user check still applies.
        MqttClient intruder = new MqttClient("tcp://127.0.0.1:" + port, "intruder",
                new MemoryPersistence());
        MqttConnectOptions bad = new MqttConnectOptions();
        bad.setUserName(USER);
        bad.setPassword("wrong".toCharArray());
        assertThrows(MqttException.class, () -> intruder.connect(bad));
        intruder.close();
    }

    @Test
    void unlicensedBrokerRefusesClients() throws Exception {
        startBroker();
        assertEquals(LicenseState.UNLICENSED, broker.licenseStatus().state());
        assertRefused("unlicensed");
        // A pending request is not a license either.
        licensing.requestUsage(vendor.issue(1, "mqtt-server"));
        assertEquals(LicenseState.PENDING, broker.licenseStatus().state());
        assertRefused("pending");
    }

    @Test
    void aLicenseWithoutTheServerFeatureIsRefused() throws Exception {
        activate("iot-bridge-snowflake:1000/month");
        startBroker();
        assertEquals(LicenseState.ACTIVE, broker.licenseStatus().state());
        assertRefused("no-server-feature");
    }

    @Test
    void expiredSupportStillServesClients() throws Exception {
        activate("mqtt-server", "support:until=2020-01-01");
        startBroker();
        MqttClient client = connect("support-expired");
        roundTrip(client);
        client.disconnect();
        client.close();
        Status status = broker.licenseStatus();
        assertEquals(LicenseState.ACTIVE, status.state());
        FeatureStatus support = status.feature("support").orElseThrow();
        assertFalse(support.active());
        assertTrue(status.feature("mqtt-server").orElseThrow().active());
        assertTrue(status.warnings().contains("support expired on 2020-01-01T00:00:00Z"),
                status.warnings().toString());
    }

    @Test
    void deactivatedBrokerDropsAndRefusesClients() throws Exception {
        activate("mqtt-server", "support:for=1y");
        startBroker();
        MqttClient client = connect("before-deactivation");
        assertTrue(client.isConnected());
        String code = broker.deactivateLicense();
        assertTrue(code.startsWith("TGDC:"));
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (client.isConnected() && System.nanoTime() < deadline) {
            Thread.sleep(20);
        }
        assertFalse(client.isConnected(), "connected clients are dropped");
        client.close();
        assertEquals(LicenseState.UNLICENSED, broker.licenseStatus().state());
        assertRefused("after-deactivation");
        // The vendor frees the seat with the code.
        assertTrue(vendor.deactivate(code));
    }

    /** The broker serves the License page; the offline wizard's first API call works through it. */
    @Test
    void theBrokerServesTheLicensePage() throws Exception {
        startBroker();
        String base = broker.serveLicensePage("Cirrus Link");
        HttpClient http = HttpClient.newHttpClient();
        HttpResponse<String> page = http.send(HttpRequest.newBuilder(URI.create(base)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, page.statusCode());
        assertTrue(page.body().contains("<tollgate-license-page"), page.body());
        assertEquals("default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none';"
                + " base-uri 'none'; form-action 'none'",
                page.headers().firstValue("content-security-policy").orElse(""));
        HttpResponse<String> js = http.send(HttpRequest.newBuilder(
                URI.create(base + "license-page.js")).build(), HttpResponse.BodyHandlers.ofString());
        assertTrue(js.body().contains("customElements.define"));

        HttpResponse<String> session = http.send(HttpRequest.newBuilder(
                URI.create(base + "api/session")).build(), HttpResponse.BodyHandlers.ofString());
        assertEquals(200, session.statusCode(), session.body());
        assertTrue(session.body().contains("\"vendor\":\"Cirrus Link\""), session.body());
        String cookie = session.headers().firstValue("set-cookie").orElseThrow().split(";")[0];
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("\"csrf_token\":\"([0-9a-f]+)\"")
                .matcher(session.body());
        assertTrue(m.find(), session.body());
        String csrf = m.group(1);
        String origin = "http://127.0.0.1:" + URI.create(base).getPort();

        String key = vendor.issue(1, LicensedBroker.FEATURE);
        String body = "{\"key\":\"" + key + "\"}";
        // Without the CSRF token, and from another origin: refused (251, 252).
        HttpResponse<String> noToken = http.send(HttpRequest.newBuilder(
                URI.create(base + "api/offline/request")).header("Cookie", cookie)
                .header("Origin", origin).POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(403, noToken.statusCode());
        assertTrue(noToken.body().contains("\"code\":251"), noToken.body());
        HttpResponse<String> foreign = http.send(HttpRequest.newBuilder(
                URI.create(base + "api/offline/request")).header("Cookie", cookie)
                .header("X-Tollgate-Csrf", csrf).header("Origin", "http://evil.example")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(403, foreign.statusCode());
        assertTrue(foreign.body().contains("\"code\":252"), foreign.body());

        // The wizard's Generate Usage Request: the broker's own manager makes it.
        HttpResponse<String> request = http.send(HttpRequest.newBuilder(
                URI.create(base + "api/offline/request")).header("Cookie", cookie)
                .header("X-Tollgate-Csrf", csrf).header("Origin", origin)
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(body)).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, request.statusCode(), request.body());
        assertTrue(request.body().startsWith("{\"usage_request\":\"TGRQ:"), request.body());
        assertFalse(request.body().contains(key));
        assertEquals(LicenseState.PENDING, licensing.status().state());
        String usageRequest = request.body().split("\"")[3];
        assertEquals(licensing.pendingRequest().orElseThrow(), usageRequest);
    }
}
