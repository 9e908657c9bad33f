package dev.tollgate;

import com.sun.net.httpserver.Headers;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpHandler;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The License page (the {@code <tollgate-license-page>} web component and its JSON API) for a
 * Java host, as a handler of the JDK's own {@code com.sun.net.httpserver} (no dependency). Every
 * request goes to the one Rust handler of {@code tollgate-page}, which does the CSRF, origin,
 * host and authentication checks; no page or API logic is written in Java.
 *
 * <pre>{@code
 * HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 8089), 0);
 * http.createContext("/license/", LicensePageHandler.builder(manager)
 *         .vendor("Cirrus Link").onlineServer("https://licensing.example.com").build());
 * http.start();   // open http://127.0.0.1:8089/license/
 * }</pre>
 *
 * Bind the server to loopback: the page trusts loopback {@code Host} names only, unless
 * {@link Builder#allowedHost} names others, and then set a {@link Builder#token}. The handler
 * keeps its {@link LicenseManager} reachable; it is safe to use from the server's threads.
 */
public final class LicensePageHandler implements HttpHandler {
    private static final int MAX_BODY = 64 * 1024;

    private final LicenseManager manager;
    private final long handle;

    private LicensePageHandler(LicenseManager manager, String options) throws LicenseException {
        this.manager = manager;
        try {
            this.handle = Native.pageNew(manager.nativeHandle(), options);
        } finally {
            Reference.reachabilityFence(manager);
        }
        long h = handle;
        Handles.CLEANER.register(this, () -> Native.pageFree(h));
    }

    /** A builder of the handler for {@code manager}. */
    public static Builder builder(LicenseManager manager) {
        return new Builder(Objects.requireNonNull(manager, "manager"));
    }

    /** The page's options. Values must not contain line breaks. */
    public static final class Builder {
        private final LicenseManager manager;
        private final StringBuilder options = new StringBuilder();

        private Builder(LicenseManager manager) {
            this.manager = manager;
        }

        private Builder option(String key, String value) {
            Objects.requireNonNull(value, key);
            if (value.indexOf('\n') >= 0 || value.indexOf('\r') >= 0) {
                throw new IllegalArgumentException(key + " must not contain a line break");
            }
            options.append(key).append('=').append(value).append('\n');
            return this;
        }

        /** Who usage requests and deactivation codes go to, shown in the wizard. */
        public Builder vendor(String name) {
            return option("vendor", name);
        }

        /** The online licensing service (enables the Online method). */
        public Builder onlineServer(String url) {
            return option("online", url);
        }

        /** The floating license server the wizard proposes. */
        public Builder floatingServer(String url) {
            return option("floating", url);
        }

        /** A feature set offered for a floating checkout. */
        public Builder featureSet(String name, List<String> features) {
            return option("set", name + "=" + String.join(",", features));
        }

        /** Where the Upgrade License button leads (the vendor's shop). */
        public Builder upgradeUrl(String url) {
            return option("upgrade", url);
        }

        /** The bearer token every API call must carry (open the page with {@code #token=…}). */
        public Builder token(String token) {
            return option("token", token);
        }

        /** A {@code Host} name accepted besides loopback ones (set a token too). */
        public Builder allowedHost(String host) {
            return option("host", host);
        }

        /** The handler. Throws {@link LicenseException} (211) for a bad option. */
        public LicensePageHandler build() throws LicenseException {
            return new LicensePageHandler(manager, options.toString());
        }
    }

    @Override
    public void handle(HttpExchange exchange) throws IOException {
        try (exchange) {
            String context = exchange.getHttpContext().getPath();
            String path = exchange.getRequestURI().getRawPath();
            String rel = path.startsWith(context) ? path.substring(context.length()) : path;
            if (!rel.startsWith("/")) {
                rel = "/" + rel;
            }
            StringBuilder headers = new StringBuilder();
            for (Map.Entry<String, List<String>> h : exchange.getRequestHeaders().entrySet()) {
                for (String v : h.getValue()) {
                    if (v.indexOf('\n') < 0 && v.indexOf('\r') < 0) {
                        headers.append(h.getKey()).append(": ").append(v).append('\n');
                    }
                }
            }
            byte[] body;
            try (InputStream in = exchange.getRequestBody()) {
                body = in.readNBytes(MAX_BODY + 1);
            }
            byte[] answer;
            try {
                answer = Native.pageHandle(handle, exchange.getRequestMethod(), rel,
                        headers.toString(), body);
            } finally {
                Reference.reachabilityFence(this);
                Reference.reachabilityFence(manager);
            }
            respond(exchange, answer);
        }
    }

    /** Writes {@code STATUS\nname: value\n…\n\n} + body. */
    private static void respond(HttpExchange exchange, byte[] answer) throws IOException {
        int end = 0;
        while (end + 1 < answer.length && !(answer[end] == '\n' && answer[end + 1] == '\n')) {
            end++;
        }
        String head = new String(answer, 0, end, StandardCharsets.UTF_8);
        String[] lines = head.split("\n");
        int status = Integer.parseInt(lines[0].trim());
        Headers out = exchange.getResponseHeaders();
        for (int i = 1; i < lines.length; i++) {
            int colon = lines[i].indexOf(':');
            if (colon > 0) {
                out.add(lines[i].substring(0, colon), lines[i].substring(colon + 1).trim());
            }
        }
        int start = Math.min(end + 2, answer.length);
        int length = answer.length - start;
        exchange.sendResponseHeaders(status, length == 0 ? -1 : length);
        if (length > 0) {
            try (OutputStream os = exchange.getResponseBody()) {
                os.write(answer, start, length);
            }
        }
    }
}
