package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 13: online calls against a loopback service that accepts and never answers. The
 * manager answers while a call waits, {@code close()} and {@link OnlineClient#cancel()} end
 * the call with code 240, a failed activation leaves the host as it was, and the service's
 * refusal code is on the exception. Synchronised with latches and futures; every wait is
 * bounded; no timing assertions.
 */
class OnlineCallsTest {
    /** The longest any test waits for the other side (a broken build fails instead of hanging). */
    private static final long BOUND_SECS = 60;

    @TempDir
    Path tmp;

    private Vendor vendor;
    private String key;
    private ExecutorService pool;

    @BeforeEach
    void setUp() throws Exception {
        vendor = new Vendor(tmp.resolve("vendor"));
        key = vendor.issue(1, "mqtt-server").key();
        pool = Executors.newCachedThreadPool();
    }

    @AfterEach
    void tearDown() {
        pool.shutdownNow();
    }

    /**
     * A loopback service serving {@code requests} connections: reads each request, counts it
     * on {@link #arrived}, then answers {@code reply} (an HTTP response), or with {@code null}
     * holds the connection without answering until {@link #close()}.
     */
    static final class Stub implements AutoCloseable {
        final ServerSocket socket;
        final CountDownLatch arrived;
        final String url;
        private final List<Socket> held = new ArrayList<>();
        private final Thread thread;

        Stub(int requests, String reply) throws IOException {
            socket = new ServerSocket(0, 8, InetAddress.getLoopbackAddress());
            url = "http://127.0.0.1:" + socket.getLocalPort();
            arrived = new CountDownLatch(requests);
            thread = new Thread(() -> {
                try {
                    for (int i = 0; i < requests; i++) {
                        Socket s = socket.accept();
                        readRequest(s.getInputStream());
                        if (reply == null) {
                            synchronized (held) {
                                held.add(s);
                            }
                            arrived.countDown();
                        } else {
                            arrived.countDown();
                            try (s; OutputStream out = s.getOutputStream()) {
                                out.write(reply.getBytes(StandardCharsets.UTF_8));
                            }
                        }
                    }
                } catch (IOException closed) {
                    // close() ends the loop
                }
            }, "stub-service");
            thread.setDaemon(true);
            thread.start();
        }

        static String refusal(int code, String name) {
            String body = "{\"error\":{\"code\":" + code + ",\"name\":\"" + name
                    + "\",\"message\":\"refused by the stub\"}}";
            return "HTTP/1.1 409 Conflict\r\ncontent-type: application/json\r\ncontent-length: "
                    + body.length() + "\r\nconnection: close\r\n\r\n" + body;
        }

        private static void readRequest(InputStream in) throws IOException {
            ByteArrayOutputStream buf = new ByteArrayOutputStream();
            int contentLength = -1;
            int headerEnd = -1;
            byte[] chunk = new byte[4096];
            while (true) {
                int n = in.read(chunk);
                if (n < 0) {
                    return;
                }
                buf.write(chunk, 0, n);
                String text = buf.toString(StandardCharsets.ISO_8859_1);
                if (headerEnd < 0) {
                    headerEnd = text.indexOf("\r\n\r\n");
                    if (headerEnd >= 0) {
                        contentLength = 0;
                        for (String line : text.substring(0, headerEnd).split("\r\n")) {
                            String l = line.toLowerCase(Locale.ROOT);
                            if (l.startsWith("content-length:")) {
                                contentLength = Integer.parseInt(l.substring(15).trim());
                            }
                        }
                    }
                }
                if (headerEnd >= 0 && buf.size() - headerEnd - 4 >= contentLength) {
                    return;
                }
            }
        }

        @Override
        public void close() throws IOException {
            socket.close();
            synchronized (held) {
                for (Socket s : held) {
                    s.close();
                }
            }
            try {
                thread.join(TimeUnit.SECONDS.toMillis(BOUND_SECS));
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
    }

    private static LicenseServiceException serviceFailure(Future<?> call) {
        ExecutionException e = assertThrows(ExecutionException.class,
                () -> call.get(BOUND_SECS, TimeUnit.SECONDS));
        return assertInstanceOf(LicenseServiceException.class, e.getCause());
    }

    private static OnlineOptions patient() {
        // One try with a per-try timeout far beyond the bound: only cancelling ends the call.
        return OnlineOptions.defaults().withAttempts(1).withTimeout(Duration.ofMinutes(10));
    }

    @Test
    void statusAnswersAndCloseReturnsWhileAnActivationWaits() throws Exception {
        Path dir = tmp.resolve("host-close");
        HostConfig config = vendor.hostConfig("close");
        try (Stub stub = new Stub(1, null)) {
            LicenseManager m = LicenseManager.open(dir, config);
            assertEquals(LicenseState.UNLICENSED, m.status().state());
            Future<Status> call = pool.submit(() -> m.activateOnline(stub.url, key));
            assertTrue(stub.arrived.await(BOUND_SECS, TimeUnit.SECONDS));

            // The request is at the service, which never answers; the manager is not locked.
            assertEquals(LicenseState.PENDING, m.status().state());
            assertFalse(m.hasFeature("mqtt-server"));
            assertTrue(m.pendingRequest().isPresent());
            assertFalse(call.isDone(), "those returned while the call was still waiting");

            m.close();
            // close() returned after the native call ended, with the typed error, having
            // undone it (the Future completes a moment later on the pool thread: no isDone()
            // here, that would race).
            LicenseServiceException e = serviceFailure(call);
            assertEquals(ErrorCode.CANCELLED, e.code());
            assertEquals("Cancelled", e.errorName());
            assertEquals(0, e.refusalCode());
            assertThrows(IllegalStateException.class, m::status);
        }
        try (LicenseManager again = LicenseManager.open(dir, config)) {
            Status s = again.status();
            assertEquals(LicenseState.UNLICENSED, s.state());
            assertFalse(s.pendingRequest());
            assertTrue(again.pendingRequest().isEmpty());
        }
    }

    @Test
    void cancelEndsAClientsCallAndChangesNothing() throws Exception {
        try (Stub stub = new Stub(1, null);
                LicenseManager m = LicenseManager.open(tmp.resolve("host-cancel"),
                        vendor.hostConfig("cancel"));
                OnlineClient online = OnlineClient.create(stub.url, null, patient())) {
            Future<Status> call = pool.submit(() -> online.activate(m, key));
            assertTrue(stub.arrived.await(BOUND_SECS, TimeUnit.SECONDS));
            assertEquals(LicenseState.PENDING, m.status().state());
            assertFalse(call.isDone());

            online.cancel();
            assertEquals(ErrorCode.CANCELLED, serviceFailure(call).code());
            Status s = m.status();
            assertEquals(LicenseState.UNLICENSED, s.state());
            assertFalse(s.pendingRequest());
            assertTrue(m.pendingRequest().isEmpty());
        }
    }

    @Test
    void aRefusalKeepsTheServiceCodeAndLeavesTheHostAsItWas() throws Exception {
        try (LicenseManager m = LicenseManager.open(tmp.resolve("host-refused"),
                vendor.hostConfig("refused"))) {
            try (Stub stub = new Stub(1, Stub.refusal(303, "SeatsExhausted"))) {
                LicenseServiceException e = assertThrows(LicenseServiceException.class,
                        () -> m.activateOnline(stub.url, key));
                assertEquals(ErrorCode.SERVICE_SEATS_EXHAUSTED, e.code());
                assertEquals(303, e.refusalCode());
            }
            // Not left pending.
            assertEquals(LicenseState.UNLICENSED, m.status().state());
            assertTrue(m.pendingRequest().isEmpty());
            try (Stub stub = new Stub(1, Stub.refusal(399, "SomethingNew"));
                    OnlineClient online = OnlineClient.create(stub.url, null, patient())) {
                LicenseServiceException e = assertThrows(LicenseServiceException.class,
                        () -> online.activate(m, key));
                assertEquals(ErrorCode.SERVICE_REFUSED, e.code());
                assertEquals(399, e.refusalCode(), "a code this version does not know");
            }
            assertEquals(LicenseState.UNLICENSED, m.status().state());
        }
    }

    @Test
    void optionsAreCheckedAndKept() throws Exception {
        OnlineOptions d = OnlineOptions.defaults();
        assertEquals(new OnlineOptions(Duration.ofSeconds(5), Duration.ofSeconds(20), 4,
                Duration.ofMillis(250), Duration.ofSeconds(10)), d);
        assertThrows(IllegalArgumentException.class, () -> d.withAttempts(0));
        assertThrows(IllegalArgumentException.class, () -> d.withTimeout(Duration.ZERO));
        assertThrows(IllegalArgumentException.class,
                () -> d.withBackoff(Duration.ofMillis(-1), Duration.ZERO));
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                () -> OnlineClient.create("ftp://example.com", null, d)).code());
        OnlineOptions set = d.withAttempts(2).withTimeout(Duration.ofSeconds(3))
                .withBackoff(Duration.ofMillis(10), Duration.ofMillis(40));
        try (OnlineClient online = OnlineClient.create("http://127.0.0.1:9", null, set)) {
            assertEquals(set, online.options());
            online.cancel(); // nothing in flight: later calls run normally
        }
    }

    @Test
    void closeEndsAFloatingCheckoutInFlight() throws Exception {
        HostConfig config = vendor.hostConfig("floating-close");
        // A timeout far beyond the bound: only closing ends the checkout.
        FloatingOptions patient = FloatingOptions.defaults().withTimeout(Duration.ofMinutes(10));
        try (Stub stub = new Stub(1, null)) {
            FloatingClient floating = FloatingClient.create(config, stub.url, null,
                    List.of("mqtt-server"), "", null, patient);
            assertEquals(patient, floating.options());
            Future<?> call = pool.submit(() -> {
                floating.checkout();
                return null;
            });
            assertTrue(stub.arrived.await(BOUND_SECS, TimeUnit.SECONDS));
            // The checkout is at the server, which never answers; the client still answers.
            assertFalse(floating.hasFeature("mqtt-server"));
            assertEquals(0, floating.leaseId());
            assertFalse(call.isDone(), "those returned while the checkout was still waiting");

            floating.close();
            // The checkout ends with the typed error although the server never answers and
            // the per-request timeout is ten minutes.
            LicenseServiceException e = serviceFailure(call);
            assertEquals(ErrorCode.CANCELLED, e.code());
            assertEquals("Cancelled", e.errorName());
            assertThrows(IllegalStateException.class, floating::checkout);
        }
    }

    @Test
    void floatingOptionsAreCheckedAndKept() throws Exception {
        FloatingOptions d = FloatingOptions.defaults();
        assertEquals(new FloatingOptions(Duration.ofSeconds(2), Duration.ofSeconds(5),
                Duration.ofSeconds(1), Duration.ofSeconds(30)), d);
        assertThrows(IllegalArgumentException.class, () -> d.withTimeout(Duration.ZERO));
        assertThrows(IllegalArgumentException.class,
                () -> d.withConnectTimeout(Duration.ofNanos(999_999)));
        assertThrows(IllegalArgumentException.class,
                () -> d.withRetry(Duration.ofMillis(-1), Duration.ZERO));
        HostConfig config = vendor.hostConfig("floating-options");
        assertEquals(ErrorCode.INVALID_ARGUMENT, assertThrows(LicenseException.class,
                () -> FloatingClient.create(config, "ftp://example.com", null,
                        List.of("mqtt-server"), "", null, d)).code());
        FloatingOptions set = d.withTimeout(Duration.ofSeconds(3))
                .withConnectTimeout(Duration.ofMillis(1500))
                .withRetry(Duration.ofMillis(20), Duration.ofMillis(400));
        try (FloatingClient floating = FloatingClient.create(config, "http://127.0.0.1:9", null,
                List.of("mqtt-server"), "", null, set);
                FloatingClient plain = FloatingClient.create(config, "http://127.0.0.1:9",
                        List.of("mqtt-server"))) {
            assertEquals(set, floating.options());
            assertEquals(d, plain.options());
        }
    }
}
