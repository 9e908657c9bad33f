package dev.tollgate.example;

import com.sun.net.httpserver.HttpServer;
import dev.tollgate.LicenseException;
import dev.tollgate.LicenseManager;
import dev.tollgate.LicensePageHandler;
import dev.tollgate.Status;
import io.moquette.broker.ClientDescriptor;
import io.moquette.broker.Server;
import io.moquette.broker.config.MemoryConfig;
import io.moquette.broker.security.IAuthenticator;
import io.moquette.broker.security.PermitAllAuthorizatorPolicy;
import io.moquette.interception.AbstractInterceptHandler;
import io.moquette.interception.messages.InterceptConnectMessage;
import io.moquette.interception.messages.InterceptConnectionLostMessage;
import io.moquette.interception.messages.InterceptDisconnectMessage;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.HashSet;
import java.util.List;
import java.util.Properties;
import java.util.Set;

/**
 * A real host of the Java binding: an embedded Moquette MQTT broker that serves clients only
 * while it is licensed, i.e. while its {@link LicenseManager} says the {@value #FEATURE}
 * feature is usable. The check is {@link LicenseManager#hasFeature(String)} on every CONNECT,
 * in the broker's authenticator, in front of the broker's own user check.
 *
 * <p>An operator's deactivation ({@link #deactivateLicense()}) also disconnects the clients
 * already connected.
 */
public final class LicensedBroker implements AutoCloseable {
    /** The feature that licenses the broker. */
    public static final String FEATURE = "mqtt-server";

    private final LicenseManager licensing;
    private final Server server = new Server();
    private final Set<String> connected = new HashSet<>();
    private HttpServer licensePage;

    /**
     * Records the clients whose CONNECT Moquette has finished. Moquette 0.17 marks a connection
     * usable only after its CONNACK has been flushed, so a SUBSCRIBE that a fast client sends
     * right after reading the CONNACK can find the connection "not connected" and be answered
     * by closing it ("SUBSCRIBE received on already closed connection"). Its onConnect
     * notification comes after that point.
     */
    private final class ConnectionTracker extends AbstractInterceptHandler {
        @Override
        public String getID() {
            return "tollgate-licensed-broker";
        }

        @Override
        public void onConnect(InterceptConnectMessage msg) {
            synchronized (connected) {
                connected.add(msg.getClientID());
                connected.notifyAll();
            }
        }

        @Override
        public void onDisconnect(InterceptDisconnectMessage msg) {
            synchronized (connected) {
                connected.remove(msg.getClientID());
            }
        }

        @Override
        public void onConnectionLost(InterceptConnectionLostMessage msg) {
            synchronized (connected) {
                connected.remove(msg.getClientID());
            }
        }

        @Override
        public void onSessionLoopError(Throwable error) {
            // Moquette logs it; a failing test shows the lost connection.
        }
    }

    /**
     * Starts the broker on {@code host:port}.
     *
     * @param licensing the broker's licensing; the broker does not close it
     * @param host the address to listen on
     * @param port the port
     * @param users the broker's user check, consulted for licensed brokers only
     * @throws IOException when the broker cannot start
     */
    public LicensedBroker(LicenseManager licensing, String host, int port, IAuthenticator users)
            throws IOException {
        this.licensing = licensing;
        // The keys of moquette.conf.
        Properties p = new Properties();
        p.setProperty("host", host);
        p.setProperty("port", Integer.toString(port));
        p.setProperty("allow_anonymous", "false");
        p.setProperty("persistence_enabled", "false");
        p.setProperty("netty.epoll", "false");
        IAuthenticator licensed = (clientId, username, password) ->
                licensing.hasFeature(FEATURE) && users.checkValid(clientId, username, password);
        server.startServer(new MemoryConfig(p), List.of(new ConnectionTracker()), null, licensed,
                new PermitAllAuthorizatorPolicy());
    }

    /** The license status page of the broker. */
    public Status licenseStatus() {
        return licensing.status();
    }

    /**
     * Deactivates the broker's license (before the server is retired) and disconnects every
     * client; new clients are refused from now on.
     *
     * @return the deactivation code for the vendor
     * @throws LicenseException when there is nothing to deactivate
     */
    public String deactivateLicense() throws LicenseException {
        String code = licensing.deactivate();
        for (ClientDescriptor c : server.listConnectedClients()) {
            server.disconnectClient(c.getClientID());
        }
        return code;
    }

    /**
     * Waits until the broker has finished accepting the client {@code clientId}: after that, the
     * client's SUBSCRIBE and PUBLISH are served.
     *
     * @param clientId the client's id
     * @param timeout how long to wait at most
     * @return whether the client was accepted within {@code timeout}
     * @throws InterruptedException when interrupted while waiting
     */
    public boolean awaitConnected(String clientId, Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        synchronized (connected) {
            while (!connected.contains(clientId)) {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    return false;
                }
                connected.wait(Math.max(1, left / 1_000_000));
            }
            return true;
        }
    }

    /**
     * Serves the License page (wizard, status page, its JSON API) for this broker's license on a
     * loopback port, as a broker's web UI would; returns its URL ({@code http://127.0.0.1:PORT/license/}).
     */
    public String serveLicensePage(String vendor) throws IOException, LicenseException {
        HttpServer http = HttpServer.create(
                new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        http.createContext("/license/",
                LicensePageHandler.builder(licensing).vendor(vendor).build());
        http.start();
        licensePage = http;
        return "http://127.0.0.1:" + http.getAddress().getPort() + "/license/";
    }

    /** The clients connected now. */
    public int connectedClients() {
        return server.listConnectedClients().size();
    }

    /** Stops the broker. */
    @Override
    public void close() {
        if (licensePage != null) {
            licensePage.stop(0);
        }
        server.stopServer();
    }
}
