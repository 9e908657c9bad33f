package dev.tollgate;

import java.lang.ref.Reference;
import java.util.Objects;

/**
 * A client of the vendor's online activation service ({@code tollgate-server}) with its own
 * timeouts and retries ({@link OnlineOptions}) and cancellation: the Java face of the Rust
 * {@code tollgate_sdk::online::OnlineClient}.
 *
 * <pre>{@code
 * try (OnlineClient online = OnlineClient.create("https://licensing.example.com", null,
 *         OnlineOptions.defaults().withTimeout(Duration.ofSeconds(5)).withAttempts(2))) {
 *     Status s = online.activate(manager, licenseKey);
 * }
 * }</pre>
 *
 * <h2>Never blocking the manager</h2>
 * A call locks its {@link LicenseManager} only to make the usage request and to install the
 * answer, never while it waits for the service: {@link LicenseManager#status()},
 * {@link LicenseManager#hasFeature(String)}, {@link LicenseManager#recordUsage(String, long)}
 * and {@link LicenseManager#close()} return at once meanwhile. A call in flight ends with a
 * {@link LicenseServiceException} of code {@link ErrorCode#CANCELLED} (240) when
 * {@link #cancel()} is called (from any thread) or its manager is closed; {@link #close()}
 * cancels too. {@code Thread.interrupt()} does not reach a native call: use {@link #cancel()}.
 *
 * <h2>Errors leave the state as it was</h2>
 * On any error, cancellation included, the manager's status is as before the call (a failed
 * activation does not leave the host pending). When another call changed the license state
 * while the service answered, the answer is not installed and the call fails with
 * {@link ErrorCode#STATE_CHANGED} (241). {@link #deactivate(LicenseManager)} deactivates the
 * host first, whatever happens next (the code stays in
 * {@link LicenseManager#lastDeactivationCode()}).
 *
 * <p>Thread-safe. A client that is never closed is freed by a {@link java.lang.ref.Cleaner}
 * once unreachable.
 */
public final class OnlineClient implements AutoCloseable {
    static {
        // Loads the native library, where this class's native methods live.
        Native.version();
    }

    private final long handle;
    private final OnlineOptions options;

    private OnlineClient(long handle, OnlineOptions options) {
        this.handle = handle;
        this.options = options;
        Handles.CLEANER.register(this, () -> nativeFree(handle));
    }

    /**
     * A client of the service at {@code serverUrl} ({@code https://…}, or {@code http://…} on
     * loopback), trusting the Mozilla root certificates, or only those in
     * {@code rootCertificatesPem} when it is not {@code null}.
     *
     * @param serverUrl the service's base URL
     * @param rootCertificatesPem the trusted root certificates (PEM), or {@code null}
     * @param options timeouts and retries ({@link OnlineOptions#defaults()})
     * @return the client; close it
     * @throws LicenseException 211 for a URL that is not {@code http(s)://} or unreadable
     *     certificates
     */
    public static OnlineClient create(String serverUrl, byte[] rootCertificatesPem,
            OnlineOptions options) throws LicenseException {
        Objects.requireNonNull(serverUrl, "serverUrl");
        Objects.requireNonNull(options, "options");
        long h = nativeNew(serverUrl, rootCertificatesPem, options.connectTimeout().toMillis(),
                options.timeout().toMillis(), options.attempts(), options.backoff().toMillis(),
                options.maxBackoff().toMillis());
        return new OnlineClient(h, options);
    }

    /** @return the options this client was created with */
    public OnlineOptions options() {
        return options;
    }

    /**
     * Activates {@code manager} with {@code licenseKey}: usage request, the service's answer
     * (taking a seat when this host holds none), installation.
     *
     * @param manager the manager
     * @param licenseKey the license key
     * @return the status after installation
     * @throws LicenseServiceException 230 unreachable, the service's refusal (its code, also in
     *     {@link LicenseServiceException#refusalCode()}), 232, 233, 234, 240 cancelled, 241
     *     state changed meanwhile
     * @throws LicenseException as {@link LicenseManager#requestUsage(String)} and
     *     {@link LicenseManager#install(String)}
     */
    public Status activate(LicenseManager manager, String licenseKey) throws LicenseException {
        Objects.requireNonNull(manager, "manager");
        Objects.requireNonNull(licenseKey, "licenseKey");
        try {
            return nativeActivate(handle, manager.nativeHandle(), licenseKey);
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(manager);
        }
    }

    /**
     * Reactivates {@code manager}: the current grant and a new refresh deadline.
     *
     * @param manager the manager
     * @return the status after installation
     * @throws LicenseException 200 without an activation, otherwise as
     *     {@link #activate(LicenseManager, String)}
     */
    public Status reactivate(LicenseManager manager) throws LicenseException {
        Objects.requireNonNull(manager, "manager");
        try {
            return nativeReactivate(handle, manager.nativeHandle());
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(manager);
        }
    }

    /**
     * Deactivates {@code manager} and has the service free the seat; the host is deactivated
     * first, whatever happens next.
     *
     * @param manager the manager
     * @return the deactivation code ({@code TGDC:…})
     * @throws LicenseException as {@link LicenseManager#deactivate()}, or the service's errors
     */
    public String deactivate(LicenseManager manager) throws LicenseException {
        Objects.requireNonNull(manager, "manager");
        try {
            return nativeDeactivate(handle, manager.nativeHandle());
        } finally {
            Reference.reachabilityFence(this);
            Reference.reachabilityFence(manager);
        }
    }

    /**
     * Delivers a deactivation code to the service (a code already processed counts as
     * delivered).
     *
     * @param deactivationCode the armored deactivation code
     * @throws LicenseServiceException the service's errors, 240 cancelled
     */
    public void sendDeactivation(String deactivationCode) throws LicenseException {
        Objects.requireNonNull(deactivationCode, "deactivationCode");
        try {
            nativeSendDeactivation(handle, deactivationCode);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Cancels every call of this client in flight now: each throws a
     * {@link LicenseServiceException} of code 240 at once, having changed nothing. Calls made
     * afterwards run normally. The request already sent is abandoned (the native thread
     * carrying it ends within the per-try timeout).
     */
    public void cancel() {
        try {
            nativeCancel(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** Cancels the calls in flight ({@link #cancel()}). The client stays usable. */
    @Override
    public void close() {
        cancel();
    }

    private static native long nativeNew(String server, byte[] rootCertsPem, long connectTimeoutMs,
            long timeoutMs, int attempts, long backoffMs, long maxBackoffMs)
            throws LicenseException;

    private static native void nativeFree(long handle);

    private static native void nativeCancel(long handle);

    private static native Status nativeActivate(long handle, long manager, String key)
            throws LicenseException;

    private static native Status nativeReactivate(long handle, long manager)
            throws LicenseException;

    private static native String nativeDeactivate(long handle, long manager)
            throws LicenseException;

    private static native void nativeSendDeactivation(long handle, String code)
            throws LicenseException;
}
