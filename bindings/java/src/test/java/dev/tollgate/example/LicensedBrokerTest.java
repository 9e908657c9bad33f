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
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
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

    private MqttClient connect(String clientId) throws MqttException {
        MqttClient client = new MqttClient("tcp://127.0.0.1:" + port, clientId,
                new MemoryPersistence());
        MqttConnectOptions options = new MqttConnectOptions();
        options.setUserName(USER);
        options.setPassword(PASSWORD);
        options.setConnectionTimeout(10);
        options.setAutomaticReconnect(false);
        client.connect(options);
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
}
