package dev.tollgate;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.util.List;
import java.util.Objects;

/**
 * A client of a floating license server ({@code tollgate-floating}): the Java face of the Rust
 * host runtime's {@code tollgate_sdk::FloatingClient}. It checks out a feature set as a lease,
 * verifies the lease offline with the vendor keys of its {@link HostConfig}, renews it on a
 * background thread at a third of its term, and releases it. All licensing logic is in the
 * native library; this class only converts.
 *
 * <pre>{@code
 * try (FloatingClient floating = FloatingClient.create(config, "https://licenses:8444",
 *         List.of("mqtt-server"))) {
 *     floating.checkout();                       // takes a seat
 *     if (floating.hasFeature("mqtt-server")) { ... }
 * }                                              // releases it
 * }</pre>
 *
 * <h2>Errors</h2>
 * {@link #checkout} and {@link #release} throw a {@link LicenseServiceException} (230–234, or a
 * refusal with the server's own code: 340 no seat left, 341 a feature the floating license
 * lacks, 346 a clone holds this client's lease, …) or the {@link LicenseException} of a lease
 * that does not verify.
 * {@link #hasFeature} and {@link #leaseId} never throw a {@code LicenseException}.
 *
 * <h2>Thread safety and lifetime</h2>
 * A client is safe to share between threads. {@link #hasFeature} does no I/O and keeps
 * answering through server outages until the lease ends. {@link #close} releases the lease
 * (best effort: the server reclaims the seats when the lease ends otherwise) and is idempotent;
 * afterwards every method throws {@link IllegalStateException}. Timeouts and retries are set
 * with {@link FloatingOptions}. A client that is never closed
 * is freed, and its lease released, by a {@link Cleaner} once it is unreachable, but close it
 * (try-with-resources): the seat is held until then.
 */
public final class FloatingClient implements AutoCloseable {
    private final long handle;
    private final FloatingOptions options;

    private FloatingClient(long handle, FloatingOptions options) {
        this.handle = handle;
        this.options = options;
        Handles.CLEANER.register(this, () -> Native.floatingFree(handle));
    }

    /** @return the options this client was created with */
    public FloatingOptions options() {
        return options;
    }

    /**
     * A client of the server at {@code serverUrl} ({@code https://…}, or {@code http://…} on
     * loopback) for the product of {@code config}, checking out {@code features}. Nothing is
     * sent yet. For a pool served by an active/standby pair, {@code serverUrl} lists both URLs
     * separated by a comma; the client moves to the other when one cannot be reached or
     * answers 347 {@link ErrorCode#SERVICE_STANDBY}.
     *
     * @throws LicenseException 211 {@code INVALID_ARGUMENT} (no feature, not an
     *     {@code http(s)://} URL), 210 {@code FINGERPRINT}
     */
    public static FloatingClient create(HostConfig config, String serverUrl, List<String> features)
            throws LicenseException {
        return create(config, serverUrl, null, features);
    }

    /**
     * As {@link #create(HostConfig, String, List)}, trusting only the root certificates in
     * {@code rootCertificatesPem} (PEM; {@code null}: the Mozilla roots).
     */
    public static FloatingClient create(HostConfig config, String serverUrl,
            byte[] rootCertificatesPem, List<String> features) throws LicenseException {
        return create(config, serverUrl, rootCertificatesPem, features, "");
    }

    /**
     * As {@link #create(HostConfig, String, byte[], List)}, for the instance {@code instance}:
     * a name (at most 128 bytes of UTF-8) that tells several clients on one host apart. It is
     * part of the client id, so two instances with different names hold two leases (two
     * seats); it is also shown as the client's name in the server's admin view.
     *
     * @throws LicenseException 211 {@code INVALID_ARGUMENT} also for an instance name that is
     *     too long
     */
    public static FloatingClient create(HostConfig config, String serverUrl,
            byte[] rootCertificatesPem, List<String> features, String instance)
            throws LicenseException {
        return create(config, serverUrl, rootCertificatesPem, features, instance, null);
    }

    /**
     * As {@link #create(HostConfig, String, byte[], List, String)}, sending
     * {@code checkoutToken} ({@code null}: none) as {@code Authorization: Bearer <token>} with
     * every checkout, heartbeat and release: the shared token of a server configured with
     * {@code checkout_token}, which refuses clients without it (231 with code 401 in the
     * message).
     *
     * @throws LicenseException 211 {@code INVALID_ARGUMENT} also for a token that is empty,
     *     over 1024 bytes, or has spaces or non-ASCII characters
     */
    public static FloatingClient create(HostConfig config, String serverUrl,
            byte[] rootCertificatesPem, List<String> features, String instance,
            String checkoutToken) throws LicenseException {
        return create(config, serverUrl, rootCertificatesPem, features, instance, checkoutToken,
                FloatingOptions.defaults());
    }

    /**
     * As {@link #create(HostConfig, String, byte[], List, String, String)}, with timeouts and
     * retries from {@code options}.
     *
     * @param options timeouts and retries ({@link FloatingOptions#defaults()})
     * @throws LicenseException as the other {@code create} methods
     */
    public static FloatingClient create(HostConfig config, String serverUrl,
            byte[] rootCertificatesPem, List<String> features, String instance,
            String checkoutToken, FloatingOptions options) throws LicenseException {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(options, "options");
        Objects.requireNonNull(serverUrl, "serverUrl");
        Objects.requireNonNull(instance, "instance");
        String[] names = features.toArray(new String[0]);
        for (String n : names) {
            Objects.requireNonNull(n, "feature");
        }
        try {
            long handle = Native.floatingNew(serverUrl, rootCertificatesPem, names, instance,
                    checkoutToken, config.nativeHandle(), options.connectTimeout().toMillis(),
                    options.timeout().toMillis(), options.retryInitial().toMillis(),
                    options.retryMax().toMillis());
            return new FloatingClient(handle, options);
        } finally {
            Reference.reachabilityFence(config);
        }
    }

    /**
     * Checks out the feature set as a lease, verifies it and starts renewing it in the
     * background. A lease already held is kept. {@link #close()} from another thread ends a
     * checkout in flight at once (240 {@code CANCELLED}; a seat the server already granted is
     * then reclaimed when the lease ends).
     *
     * @throws LicenseServiceException 230–234 (240 {@code CANCELLED} when closed meanwhile), or
     *     the server's refusal code (340: no seat left)
     * @throws LicenseException a lease that does not verify
     */
    public void checkout() throws LicenseException {
        try {
            Native.floatingCheckout(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Whether feature {@code name} is usable now under the lease held: true through server
     * outages until the lease ends; false when no lease is held. No I/O.
     */
    public boolean hasFeature(String name) {
        Objects.requireNonNull(name, "name");
        try {
            return Native.floatingHasFeature(handle, name);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The id of the lease held, 0 when none is. */
    public long leaseId() {
        try {
            return Native.floatingLeaseId(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Stops the heartbeats and gives the seats back. Does nothing when no lease is held. The
     * lease is dropped even when the release cannot be delivered (then thrown; the server
     * reclaims the seats when the lease ends).
     */
    public void release() throws LicenseException {
        try {
            Native.floatingRelease(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Ends a {@link #checkout()} in flight (it throws 240 {@code CANCELLED}) and releases the
     * lease (best effort, waiting at most {@link FloatingOptions#timeout()}); later calls throw
     * {@link IllegalStateException}.
     */
    @Override
    public void close() {
        try {
            Native.floatingClose(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }
}
