package dev.tollgate;

import java.lang.ref.Cleaner;
import java.lang.ref.Reference;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Objects;
import java.util.Optional;

/**
 * Licensing for one product on one host: the Java face of the Rust host runtime's
 * {@code tollgate_sdk::LicenseManager}. It makes usage requests, installs usage licenses,
 * answers feature checks, counts metered usage and deactivates, keeping its state durable in a
 * state directory. All licensing logic is in the native library; this class only converts.
 *
 * <pre>{@code
 * HostConfig config = HostConfig.fromFile(Path.of("/etc/chariot/tollgate-host.json"));
 * try (LicenseManager licensing = LicenseManager.open(Path.of("/var/lib/chariot/license"), config)) {
 *     String request = licensing.requestUsage(licenseKey);      // send to the vendor
 *     Status status = licensing.install(usageLicenseFromVendor); // TGUL:…
 *     if (licensing.hasFeature("mqtt-server")) { ... }
 * }
 * }</pre>
 *
 * <h2>Errors</h2>
 * Operations that can be refused throw a {@link LicenseException} subclass carrying the stable
 * result code; on any error the state is unchanged. Queries ({@link #hasFeature},
 * {@link #status}) never throw a {@code LicenseException}: they report. A {@code null}
 * argument throws {@link NullPointerException}. A Rust panic (a bug) arrives as an
 * {@link AssertionError}; it never crashes the JVM.
 *
 * <h2>Thread safety</h2>
 * A manager is safe to share between threads. {@link #hasFeature} takes no lock (it reads the
 * runtime's lock-free feature gate), does no I/O and is meant to be called on every request
 * from any number of threads; it never waits for an operation in progress. Other queries
 * ({@link #status}, {@link #statusJson}, {@link #meter}, {@link #check},
 * {@link #pendingRequest}, {@link #lastDeactivationCode}) take a shared read lock and run in
 * parallel; operations that change the state ({@link #requestUsage}, {@link #requestRenewal},
 * {@link #install}, {@link #recordUsage}, {@link #refresh}, {@link #deactivate}) take the
 * exclusive lock and run one at a time. The online calls ({@link #activateOnline(String,
 * String)}, {@link #reactivateOnline(String)}, {@link #deactivateOnline(String)},
 * {@link OnlineClient}) take it only to make their request and to install the answer, never
 * while the service answers.
 *
 * <h2>Lifetime</h2>
 * {@link #open} locks the state directory (another manager, in this or another process, gets
 * code 213) until {@link #close}. {@code close} is idempotent, cancels the online calls in
 * flight (code 240) and waits for the other calls in progress;
 * afterwards every method throws {@link IllegalStateException}. A manager that is never closed
 * is closed by a {@link Cleaner} once it is unreachable, but close it (try-with-resources):
 * the lock is held until then.
 */
public final class LicenseManager implements AutoCloseable {
    private final long handle;
    /** Set by {@link #close()} before the native manager is closed: handles answer false. */
    volatile boolean closed;

    private LicenseManager(long handle) {
        this.handle = handle;
        // The native cell is freed only here, once `this` is unreachable: a call racing with
        // close() finds a closed manager, never freed memory.
        Handles.CLEANER.register(this, () -> Native.managerFree(handle));
    }

    /**
     * The native handle, for {@link LicensePageHandler} and {@link OnlineClient} (which keep
     * {@code this} reachable while they use it).
     */
    long nativeHandle() {
        return handle;
    }

    /**
     * Opens the state in {@code stateDir} (created if needed, mode 0700 files 0600) with the
     * system clock.
     *
     * @param stateDir the state directory of this product on this host
     * @param config the product's configuration
     * @return the manager; close it
     * @throws LicenseException 213 when the directory is in use, 206 on I/O failure, 207 when
     *     the state is corrupt, 217 when written by a newer version, 211/119 for a bad
     *     configuration. A license that no longer verifies does not make it fail: see
     *     {@link #status()}.
     */
    public static LicenseManager open(Path stateDir, HostConfig config) throws LicenseException {
        return open(stateDir, config, ClockSource.SYSTEM);
    }

    /**
     * {@link #open(Path, HostConfig)} with a choice of system clock.
     * {@link ClockSource#CACHED} starts one background thread ({@code tollgate-clock}) that
     * {@link #close()} stops.
     *
     * @param stateDir the state directory
     * @param config the product's configuration
     * @param clock {@link ClockSource#SYSTEM} or {@link ClockSource#CACHED}
     * @return the manager; close it
     * @throws NullPointerException when {@code clock} (or another argument) is {@code null}:
     *     there is no default clock here, use {@link #open(Path, HostConfig)} for the system clock
     * @throws LicenseException as {@link #open(Path, HostConfig)}
     */
    public static LicenseManager open(Path stateDir, HostConfig config, ClockSource clock)
            throws LicenseException {
        Objects.requireNonNull(clock, "clock");
        int kind = clock == ClockSource.CACHED ? Native.CLOCK_CACHED : Native.CLOCK_SYSTEM;
        return open(stateDir, config, kind, 0);
    }

    /**
     * {@link #open(Path, HostConfig)} with a settable clock, for tests.
     *
     * @param stateDir the state directory
     * @param config the product's configuration
     * @param clock the clock; the manager keeps it alive
     * @return the manager; close it
     * @throws NullPointerException when {@code clock} (or another argument) is {@code null}
     * @throws LicenseException as {@link #open(Path, HostConfig)}
     */
    public static LicenseManager open(Path stateDir, HostConfig config, ManualClock clock)
            throws LicenseException {
        Objects.requireNonNull(clock, "clock");
        try {
            return open(stateDir, config, Native.CLOCK_MANUAL, clock.handle);
        } finally {
            Reference.reachabilityFence(clock);
        }
    }

    private static LicenseManager open(Path stateDir, HostConfig c, int clockKind, long clock)
            throws LicenseException {
        Objects.requireNonNull(stateDir, "stateDir");
        Objects.requireNonNull(c, "config");
        try {
            long handle = Native.managerOpen(stateDir.toString(), c.nativeHandle(), clockKind,
                    clock);
            return new LicenseManager(handle);
        } finally {
            Reference.reachabilityFence(c);
        }
    }

    /**
     * Makes a usage request for a license key (as the customer typed it: case, dashes and
     * spaces do not matter) and returns its text ({@code TGRQ:…}) to send to the vendor. Each
     * request supersedes the earlier ones; an installed license stays in force until its
     * replacement is installed.
     *
     * @param licenseKey the license key
     * @return the armored usage request
     * @throws LicenseException 117/118 for a mistyped key, 212 when a license for another key
     *     is installed, 205 clock set back, 210 no fingerprint, 216, 206
     */
    public String requestUsage(String licenseKey) throws LicenseException {
        Objects.requireNonNull(licenseKey, "licenseKey");
        try {
            return Native.managerRequestUsage(handle, licenseKey);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Makes a new usage request for this host's activation without the license key: the
     * offline upgrade round trip.
     *
     * @return the armored usage request
     * @throws LicenseException 200 when this host never made a request (or deactivated since),
     *     else as {@link #requestUsage(String)}
     */
    public String requestRenewal() throws LicenseException {
        try {
            return Native.managerRequestRenewal(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Installs a usage license ({@code TGUL:…}) from the vendor and returns the new status.
     * Installing the license that is already installed changes nothing.
     *
     * @param usageLicense the armored usage license
     * @return the status after installation
     * @throws InvalidArtifactException 100–116 when the license is malformed, forged, for
     *     another product or machine, or not valid now
     * @throws LicenseStateException 201 no pending request, 202 superseded, 203 another
     *     installation's, 204 deactivated here, 205 clock set back, 215 unknown request
     * @throws LicenseException 210 no fingerprint, 206 storage
     */
    public Status install(String usageLicense) throws LicenseException {
        Objects.requireNonNull(usageLicense, "usageLicense");
        try {
            return Native.managerInstall(handle, usageLicense);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The status now: what a status page shows. */
    public Status status() {
        try {
            return Native.managerStatus(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The status now as pretty-printed JSON (the shape of the Rust {@code Status}). */
    public String statusJson() {
        try {
            return Native.managerStatusJson(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Probes the fingerprint again and re-verifies the installed license (after a hardware
     * change, or periodically), and returns the status.
     *
     * @return the status
     * @throws LicenseException 206 when the clock's high-water mark cannot be stored
     */
    public Status refresh() throws LicenseException {
        try {
            return Native.managerRefresh(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Whether feature {@code name} is usable now: a license is installed and verified for this
     * host, the clock was not set back, the license is within its validity and the feature
     * exists and has not expired. No I/O; safe to call on every request from many threads.
     *
     * <p>A metered feature whose quota for the period is used up is still usable (true): this
     * says whether the feature is licensed, and the quota is enforced only by
     * {@link #recordUsage} ({@link ErrorCode#QUOTA_EXCEEDED}); read what is left with
     * {@link #meter}. Rust and C answer the same.
     *
     * @param name the feature's name, e.g. {@code mqtt-server}
     * @return whether it is usable
     */
    public boolean hasFeature(String name) {
        Objects.requireNonNull(name, "name");
        try {
            return Native.managerHasFeature(handle, name.getBytes(StandardCharsets.UTF_8));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Resolves feature {@code name} once to a {@link FeatureHandle}, whose
     * {@link FeatureHandle#isEnabled()} answers as {@link #hasFeature(String)} does without
     * crossing into native code: the hot path. The name need not be licensed (yet): the handle
     * follows every later install, upgrade, deactivation and expiry.
     *
     * @param name the feature's name, e.g. {@code mqtt-server}
     * @return its handle (answers {@code false} once this manager is closed)
     * @throws IllegalStateException when the manager is closed
     */
    public FeatureHandle feature(String name) {
        Objects.requireNonNull(name, "name");
        try {
            return new FeatureHandle(this, name, Native.managerGate(handle),
                    Native.managerClockWord(handle));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Returns normally when a license is installed and active now.
     *
     * @throws LicenseException why not: 200 nothing installed, 205 clock set back, 113–116, …
     */
    public void check() throws LicenseException {
        try {
            Native.managerCheck(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Records {@code units} of use of a metered feature in the current UTC period (durably)
     * and returns the new reading; records nothing on failure.
     *
     * @param feature the metered feature
     * @param units units used (not negative)
     * @return the reading after recording
     * @throws LicenseException 208 quota exceeded, 209 unknown feature, 214 not metered, 211
     *     negative units, the reason the license is not active (200, 205, 113–116), 206
     */
    public MeterReading recordUsage(String feature, long units) throws LicenseException {
        Objects.requireNonNull(feature, "feature");
        try {
            return Native.managerRecordUsage(handle, feature, units);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The metered-usage journal for an offline host to hand to the vendor: cuts the units
     * recorded since the last report into signed, hash-chained usage reports (durably), then
     * returns every report the vendor has not acknowledged yet as text: a {@code #} comment
     * line, then one {@code TGUR:…} report a line (core/SPEC.md §10c). Only the comment line
     * when there is nothing to report.
     *
     * @return the journal text
     * @throws LicenseException 206 the cut could not be saved (nothing changed)
     */
    public String usageJournal() throws LicenseException {
        try {
            return Native.managerUsageJournal(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * The current reading of a metered feature, without recording anything.
     *
     * @param feature the metered feature
     * @return the reading
     * @throws LicenseException as {@link #recordUsage(String, long)}
     */
    public MeterReading meter(String feature) throws LicenseException {
        Objects.requireNonNull(feature, "feature");
        try {
            return Native.managerMeter(handle, feature);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Deactivates the installed license and returns the deactivation code ({@code TGDC:…})
     * for the vendor, who frees the seat with it. The license is removed and can never be
     * installed here again; the next request makes a new device key. Works also when the
     * license has expired or the clock was set back.
     *
     * @return the armored deactivation code
     * @throws LicenseException 200 nothing installed, 204 already deactivated, 203, the reason
     *     the installed license no longer verifies, 206
     */
    public String deactivate() throws LicenseException {
        try {
            return Native.managerDeactivate(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    // -- online activation ---------------------------------------------------------------

    /**
     * Activates online with the vendor's online activation service ({@code tollgate-server}) at
     * {@code serverUrl} ({@code https://…}, or {@code http://…} on loopback): makes a usage
     * request, has the service answer it (taking a seat when this host holds none), installs
     * the usage license and returns the new status. The server certificate is checked against
     * the Mozilla root certificates. Transient failures (unreachable, HTTP 5xx, 429) are retried
     * with backoff ({@link OnlineOptions#defaults()}: 4 tries of at most 20 s; an
     * {@link OnlineClient} sets its own). No lock is held while the service answers:
     * {@link #status()}, {@link #hasFeature}, {@link #recordUsage} answer meanwhile, and
     * {@link #close()} cancels the call (240). On any error the status is as before the call.
     *
     * @param serverUrl the service's base URL
     * @param licenseKey the license key
     * @return the status after installation
     * @throws LicenseServiceException 230 unreachable, the service's refusal code (300 unknown
     *     key, 303 no seat left, …; 231 for a code this version does not know), 232 unavailable,
     *     233 rate limited, 234 unexpected answer
     * @throws LicenseException as {@link #requestUsage(String)} and {@link #install(String)};
     *     211 for a URL that is not {@code http(s)://}
     */
    public Status activateOnline(String serverUrl, String licenseKey) throws LicenseException {
        return activateOnline(serverUrl, null, licenseKey);
    }

    /**
     * {@link #activateOnline(String, String)}, trusting only the certificates in
     * {@code rootCertificatesPem} (a private CA or a self-signed service certificate; PEM).
     *
     * @param serverUrl the service's base URL
     * @param rootCertificatesPem the trusted root certificates, or {@code null} for the Mozilla
     *     roots
     * @param licenseKey the license key
     * @return the status after installation
     * @throws LicenseException as {@link #activateOnline(String, String)}; 211 for unreadable
     *     certificates
     */
    public Status activateOnline(String serverUrl, byte[] rootCertificatesPem, String licenseKey)
            throws LicenseException {
        Objects.requireNonNull(serverUrl, "serverUrl");
        Objects.requireNonNull(licenseKey, "licenseKey");
        try {
            return Native.managerActivateOnline(handle, serverUrl, rootCertificatesPem, licenseKey);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Marketplace mode: what a product on a cloud marketplace instance calls at each start. The
     * host reads the cloud's signed instance identity ({@code cloud} {@code "aws"}: IMDSv2
     * instance identity document and signature; {@code "azure"}: the attested data document)
     * from the metadata service and the online activation service at {@code serverUrl}
     * activates this instance from it the first time (no license key), refreshes afterwards,
     * and activates afresh a copied state found on another instance. The status then shows
     * {@link DeploymentModel#MARKETPLACE}. Like the online calls, it holds no lock while the
     * identity is read or the service answers ({@link #status()} and {@link #hasFeature}
     * answer meanwhile), and {@link #close()} ends it with 240 {@code CANCELLED}; on any error
     * the status is as before the call.
     *
     * @param cloud {@code "aws"} or {@code "azure"}
     * @param serverUrl the service's base URL
     * @param rootCertificatesPem the service's trusted root certificates, or {@code null}
     * @param metadataUrl the metadata service's base URL, or {@code null} for the cloud's
     *     {@code http://169.254.169.254}
     * @return the status after installation
     * @throws LicenseException 260 metadata service unreachable, 261 unexpected metadata; the
     *     service's refusal: 381 forged identity, 382 not this vendor's product, 383 stale
     *     document, 384 nonce mismatch, 385 the seat belongs to another instance; otherwise as
     *     {@link #activateOnline(String, String)}; 211 for an unknown cloud or a bad URL
     */
    public Status startMarketplace(String cloud, String serverUrl, byte[] rootCertificatesPem,
            String metadataUrl) throws LicenseException {
        Objects.requireNonNull(cloud, "cloud");
        Objects.requireNonNull(serverUrl, "serverUrl");
        try {
            return Native.managerStartMarketplace(handle, cloud, serverUrl, rootCertificatesPem,
                    metadataUrl);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Reactivates online: the same activation gets the license's current grant (an upgrade, a
     * renewed subscription) and a new refresh deadline, installed at once. Needs no license key.
     *
     * @param serverUrl the service's base URL
     * @return the status after installation
     * @throws LicenseException 200 when this host has no activation; 323
     *     ({@link ErrorCode#SERVICE_NO_ACTIVE_ACTIVATION}) when the service no longer counts it;
     *     otherwise as
     *     {@link #activateOnline(String, String)}
     */
    public Status reactivateOnline(String serverUrl) throws LicenseException {
        return reactivateOnline(serverUrl, null);
    }

    /**
     * {@link #reactivateOnline(String)} with its own trusted root certificates (see
     * {@link #activateOnline(String, byte[], String)}).
     *
     * @param serverUrl the service's base URL
     * @param rootCertificatesPem the trusted root certificates, or {@code null}
     * @return the status after installation
     * @throws LicenseException as {@link #reactivateOnline(String)}
     */
    public Status reactivateOnline(String serverUrl, byte[] rootCertificatesPem)
            throws LicenseException {
        Objects.requireNonNull(serverUrl, "serverUrl");
        try {
            return Native.managerReactivateOnline(handle, serverUrl, rootCertificatesPem);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Deactivates online: removes the installed license for good (as {@link #deactivate()})
     * and has the service free the seat with the deactivation code, which is returned. The
     * host is deactivated first, whatever happens next: when the service cannot be reached the
     * exception says so and the code stays available as {@link #lastDeactivationCode()}, to
     * deliver later with {@link #sendDeactivation(String, String)} (or to the vendor, offline).
     *
     * @param serverUrl the service's base URL
     * @return the armored deactivation code
     * @throws LicenseException as {@link #deactivate()}, or the service's errors (see
     *     {@link #activateOnline(String, String)})
     */
    public String deactivateOnline(String serverUrl) throws LicenseException {
        return deactivateOnline(serverUrl, null);
    }

    /**
     * {@link #deactivateOnline(String)} with its own trusted root certificates (see
     * {@link #activateOnline(String, byte[], String)}).
     *
     * @param serverUrl the service's base URL
     * @param rootCertificatesPem the trusted root certificates, or {@code null}
     * @return the armored deactivation code
     * @throws LicenseException as {@link #deactivateOnline(String)}
     */
    public String deactivateOnline(String serverUrl, byte[] rootCertificatesPem)
            throws LicenseException {
        Objects.requireNonNull(serverUrl, "serverUrl");
        try {
            return Native.managerDeactivateOnline(handle, serverUrl, rootCertificatesPem);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Delivers a deactivation code ({@code TGDC:…}, e.g. {@link #lastDeactivationCode()} after
     * {@link #deactivateOnline(String)} could not reach the service) to the service, which
     * frees its seat. A code the service already processed counts as delivered.
     *
     * @param serverUrl the service's base URL
     * @param deactivationCode the armored deactivation code
     * @throws LicenseServiceException the service's errors (see
     *     {@link #activateOnline(String, String)})
     * @throws LicenseException 211 for a URL that is not {@code http(s)://}
     */
    public static void sendDeactivation(String serverUrl, String deactivationCode)
            throws LicenseException {
        sendDeactivation(serverUrl, null, deactivationCode);
    }

    /**
     * {@link #sendDeactivation(String, String)} with its own trusted root certificates.
     *
     * @param serverUrl the service's base URL
     * @param rootCertificatesPem the trusted root certificates, or {@code null}
     * @param deactivationCode the armored deactivation code
     * @throws LicenseException as {@link #sendDeactivation(String, String)}
     */
    public static void sendDeactivation(String serverUrl, byte[] rootCertificatesPem,
            String deactivationCode) throws LicenseException {
        Objects.requireNonNull(serverUrl, "serverUrl");
        Objects.requireNonNull(deactivationCode, "deactivationCode");
        Native.onlineSendDeactivation(serverUrl, rootCertificatesPem, deactivationCode);
    }

    /** The code of the last deactivation on this host, to show it again. */
    public Optional<String> lastDeactivationCode() {
        try {
            return Optional.ofNullable(Native.managerLastDeactivationCode(handle));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /** The pending usage request's text, to show it again. */
    public Optional<String> pendingRequest() {
        try {
            return Optional.ofNullable(Native.managerPendingRequest(handle));
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Closes the manager: cancels the online calls in flight on it (each throws a
     * {@link LicenseServiceException} of code 240 having changed nothing; {@code close} waits
     * for that, never for the network), stops the {@link ClockSource#CACHED} clock's thread,
     * then releases the state directory after the other calls in progress finish. Later calls
     * throw {@link IllegalStateException}; {@link FeatureHandle}s answer {@code false}.
     * Idempotent.
     */
    @Override
    public void close() {
        closed = true;
        try {
            Native.managerClose(handle);
        } finally {
            Reference.reachabilityFence(this);
        }
    }

    /**
     * Verifies a usage license for this host without any state (what an installer or support
     * tool does before installing): signed by one of the configuration's vendor keys, for its
     * product, matching this host's fingerprint (probed as the configuration says) and valid
     * at {@code now}. Stateless and thread-safe.
     *
     * @param config the product's configuration
     * @param usageLicense the armored usage license
     * @param now the time to check validity at (whole seconds)
     * @return what a status page shows about it (no meter counts, no installation time)
     * @throws InvalidArtifactException 100–116 the verdict, 119 a bad vendor key
     * @throws LicenseException 210 no fingerprint, 211 a bad configuration or a time before 1970
     */
    public static LicenseInfo verify(HostConfig config, String usageLicense, Instant now)
            throws LicenseException {
        Objects.requireNonNull(config, "config");
        Objects.requireNonNull(usageLicense, "usageLicense");
        try {
            return Native.verify(config.nativeHandle(), usageLicense, now.getEpochSecond());
        } finally {
            Reference.reachabilityFence(config);
        }
    }

    /**
     * {@link #verify(HostConfig, String, Instant)} now.
     *
     * @param config the product's configuration
     * @param usageLicense the armored usage license
     * @return what a status page shows about it
     * @throws LicenseException as {@link #verify(HostConfig, String, Instant)}
     */
    public static LicenseInfo verify(HostConfig config, String usageLicense)
            throws LicenseException {
        return verify(config, usageLicense, Instant.now());
    }

    /** The version of the native library (the Rust workspace version), e.g. {@code 0.1.0}. */
    public static String version() {
        return Native.version();
    }

    /**
     * The stable message of a result code, e.g. 118 → {@code "the license key contains a
     * typo"}; {@code "unknown error code"} for a code this version does not know.
     *
     * @param code a result code
     * @return its message
     */
    public static String errorMessage(int code) {
        return Native.errorMessage(code);
    }
}
