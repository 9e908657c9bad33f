package dev.tollgate;

/**
 * The native methods of {@code libtollgate_jni} (the Rust crate {@code ffi/jni}). Internal: use
 * {@link LicenseManager}. Handles are {@code long} addresses owned by the Java objects that hold
 * them; see {@link LicenseManager} for their lifetime.
 */
final class Native {
    static final int CLOCK_SYSTEM = 0;
    static final int CLOCK_CACHED = 1;
    static final int CLOCK_MANUAL = 2;

    static {
        NativeLibrary.load();
    }

    private Native() {}

    static native long managerOpen(String stateDir, long hostConfig, int clockKind,
            long manualClock) throws LicenseException;

    static native void managerClose(long handle);

    static native void managerFree(long handle);

    static native String managerRequestUsage(long handle, String licenseKey)
            throws LicenseException;

    static native String managerRequestRenewal(long handle) throws LicenseException;

    static native Status managerInstall(long handle, String usageLicense) throws LicenseException;

    static native Status managerStatus(long handle);

    static native String managerStatusJson(long handle);

    static native Status managerRefresh(long handle) throws LicenseException;

    /** {@code utf8Name}: the name's UTF-8 bytes (cheaper to pass than a String). */
    static native boolean managerHasFeature(long handle, byte[] utf8Name);

    static native void managerCheck(long handle) throws LicenseException;

    static native MeterReading managerRecordUsage(long handle, String feature, long units)
            throws LicenseException;

    static native MeterReading managerMeter(long handle, String feature) throws LicenseException;

    static native String managerDeactivate(long handle) throws LicenseException;

    static native String managerUsageJournal(long handle) throws LicenseException;

    /** {@code rootCertsPem}: {@code null} for the Mozilla root certificates. */
    static native Status managerActivateOnline(long handle, String server, byte[] rootCertsPem,
            String licenseKey) throws LicenseException;

    static native Status managerReactivateOnline(long handle, String server, byte[] rootCertsPem)
            throws LicenseException;

    static native Status managerStartMarketplace(long handle, String cloud, String server,
            byte[] rootCertsPem, String metadataUrl) throws LicenseException;

    static native String managerDeactivateOnline(long handle, String server, byte[] rootCertsPem)
            throws LicenseException;

    static native void onlineSendDeactivation(String server, byte[] rootCertsPem, String code)
            throws LicenseException;

    static native long floatingNew(String server, byte[] rootCertsPem, String[] features,
            String instance, String checkoutToken, long hostConfig, long connectTimeoutMs,
            long timeoutMs, long retryInitialMs, long retryMaxMs) throws LicenseException;

    static native void floatingCheckout(long handle) throws LicenseException;

    static native boolean floatingHasFeature(long handle, String name);

    static native long floatingLeaseId(long handle);

    static native void floatingRelease(long handle) throws LicenseException;

    static native void floatingClose(long handle);

    static native void floatingFree(long handle);

    /** A direct buffer over the manager's feature gate (layout: {@link #gateLayout()}). */
    static native java.nio.ByteBuffer managerGate(long handle);

    /** A direct buffer over the manager's clock reading word, or {@code null}: system clock. */
    static native java.nio.ByteBuffer managerClockWord(long handle);

    /** The feature gate's layout: see {@code FeatureHandle}. */
    static native long[] gateLayout();

    static native String managerLastDeactivationCode(long handle);

    static native String managerPendingRequest(long handle);

    static native LicenseInfo verify(long hostConfig, String usageLicense, long now)
            throws LicenseException;

    static native long hostConfigNew(String product, String productVersion, byte[] salt,
            byte[] vendorRoot, String[] keyCertificates, String keyList, int[] componentKinds,
            byte[][] componentValues, boolean probes, boolean allowOverride, int minComponents,
            int warnDays) throws LicenseException;

    static native void hostConfigFree(long handle);

    static native HostConfig hostConfigFromJson(String json, byte[] vendorRoot)
            throws LicenseException;

    static native String version();

    static native int[] errorCodes();

    static native String errorName(int code);

    static native String errorMessage(int code);

    static native void panicForTesting();

    static native long manualClockNew(long now) throws LicenseException;

    static native void manualClockSet(long handle, long now) throws LicenseException;

    static native long manualClockNow(long handle);

    static native void manualClockFree(long handle);

    static native long pageNew(long manager, String options) throws LicenseException;

    static native byte[] pageHandle(long page, String method, String path, String headers,
            byte[] body);

    static native void pageFree(long page);
}
