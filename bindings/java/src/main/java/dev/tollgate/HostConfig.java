package dev.tollgate;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Objects;

/**
 * What the host application tells Tollgate about itself: the product, its fingerprint salt and
 * the vendor's public keys (shipped inside the application), plus how the host fingerprint is
 * built. Immutable; make one with {@link #builder()} or read the file {@code tollgate vendor
 * host-config} writes with {@link #fromJson(String)} / {@link #fromFile(Path)}.
 *
 * <p>The values are checked when a manager is opened or a license verified: an empty product,
 * version or salt, no vendor key, or a key that is not 32 bytes fail with code 211
 * ({@link ErrorCode#INVALID_ARGUMENT}); a key that is not a valid ed25519 point with 119
 * ({@link ErrorCode#BAD_PUBLIC_KEY}).
 */
public final class HostConfig {
    /** Default {@link Builder#rollbackTolerance(Duration)}: one hour. */
    public static final Duration DEFAULT_ROLLBACK_TOLERANCE = Duration.ofHours(1);
    /** Default {@link Builder#warnDays(int)}: 30. */
    public static final int DEFAULT_WARN_DAYS = 30;

    private final String product;
    private final String productVersion;
    private final byte[] salt;
    private final List<byte[]> vendorKeys;
    private final List<ComponentKind> componentKinds;
    private final List<byte[]> componentValues;
    private final boolean probes;
    private final long rollbackToleranceSecs;
    private final int warnDays;

    /** Guards {@link #nativeHandle}. */
    private final Object nativeLock = new Object();
    /** The native configuration built from these values; 0 until first needed. */
    private long nativeHandle;

    private HostConfig(Builder b) {
        this.product = Objects.requireNonNull(b.product, "product");
        this.productVersion = Objects.requireNonNull(b.productVersion, "productVersion");
        this.salt = Objects.requireNonNull(b.salt, "fingerprintSalt").clone();
        this.vendorKeys = copy(b.vendorKeys);
        this.componentKinds = List.copyOf(b.componentKinds);
        this.componentValues = copy(b.componentValues);
        this.probes = b.probes;
        this.rollbackToleranceSecs = b.rollbackToleranceSecs;
        this.warnDays = b.warnDays;
    }

    private static List<byte[]> copy(List<byte[]> in) {
        List<byte[]> out = new ArrayList<>(in.size());
        for (byte[] b : in) {
            out.add(b.clone());
        }
        return List.copyOf(out);
    }

    /** A new, empty builder (probes on, default tolerance and warning period). */
    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this configuration's values, to adjust them. */
    public Builder toBuilder() {
        Builder b = new Builder().product(product).productVersion(productVersion)
                .fingerprintSalt(salt).rollbackTolerance(Duration.ofSeconds(rollbackToleranceSecs))
                .warnDays(warnDays).probes(probes);
        vendorKeys.forEach(b::vendorKey);
        for (int i = 0; i < componentKinds.size(); i++) {
            b.component(componentKinds.get(i), componentValues.get(i));
        }
        return b;
    }

    /**
     * Reads a host configuration document, as written by {@code tollgate vendor host-config}:
     * {@code {"product", "product_version", "fingerprint_salt", "vendor_keys": [hex…],
     * "rollback_tolerance_secs"?, "warn_days"?}}. The fingerprint uses the platform probes;
     * adjust with {@link #toBuilder()}.
     *
     * @param json the document
     * @return the configuration
     * @throws LicenseException code 211 when it is not such a document
     */
    public static HostConfig fromJson(String json) throws LicenseException {
        return Native.hostConfigFromJson(Objects.requireNonNull(json, "json"));
    }

    /**
     * {@link #fromJson(String)} of a file's content.
     *
     * @param file the host configuration file
     * @return the configuration
     * @throws IOException when the file cannot be read
     * @throws LicenseException code 211 when it is not a host configuration
     */
    public static HostConfig fromFile(Path file) throws IOException, LicenseException {
        return fromJson(Files.readString(file, StandardCharsets.UTF_8));
    }

    static HostConfig fromNative(String product, String productVersion, byte[] salt,
            Object[] vendorKeys, long rollbackToleranceSecs, int warnDays) {
        Builder b = builder().product(product).productVersion(productVersion)
                .fingerprintSalt(salt).rollbackTolerance(Duration.ofSeconds(rollbackToleranceSecs))
                .warnDays(warnDays);
        for (Object k : vendorKeys) {
            b.vendorKey((byte[]) k);
        }
        return b.build();
    }

    /** The product id. */
    public String product() {
        return product;
    }

    /** The product version sent in usage requests. */
    public String productVersion() {
        return productVersion;
    }

    /** A copy of the fingerprint salt. */
    public byte[] fingerprintSalt() {
        return salt.clone();
    }

    /** Copies of the vendor's public keys (32 bytes each when valid). */
    public List<byte[]> vendorKeys() {
        return copy(vendorKeys);
    }

    /** Whether the platform probes run (else only {@link Builder#component} values count). */
    public boolean probes() {
        return probes;
    }

    /** The kinds of the application-supplied components, in order. */
    public List<ComponentKind> componentKinds() {
        return componentKinds;
    }

    /** How far the clock may go back before a rollback is reported, in seconds. */
    public long rollbackToleranceSecs() {
        return rollbackToleranceSecs;
    }

    /** How many days before a subscription ends the status starts warning. */
    public int warnDays() {
        return warnDays;
    }

    /**
     * The native configuration these values describe, checked and converted once on first use
     * and shared by every manager, verification and floating client made with this
     * configuration; freed by the {@link Handles#CLEANER} once this object is unreachable.
     * Callers keep {@code this} reachable while they use the handle.
     *
     * @throws LicenseException 211 when a value is not acceptable (checked again on each call
     *     until it is)
     */
    long nativeHandle() throws LicenseException {
        synchronized (nativeLock) {
            if (nativeHandle == 0) {
                long h = Native.hostConfigNew(product, productVersion, salt, vendorKeyArray(),
                        componentKindArray(), componentValueArray(), probes,
                        rollbackToleranceSecs, warnDays);
                Handles.CLEANER.register(this, () -> Native.hostConfigFree(h));
                nativeHandle = h;
            }
            return nativeHandle;
        }
    }

    // The fields of Native.hostConfigNew.
    byte[][] vendorKeyArray() {
        return vendorKeys.toArray(new byte[0][]);
    }

    int[] componentKindArray() {
        return componentKinds.stream().mapToInt(ComponentKind::wire).toArray();
    }

    byte[][] componentValueArray() {
        return componentValues.toArray(new byte[0][]);
    }

    /** Builds a {@link HostConfig}. Not thread-safe. */
    public static final class Builder {
        private String product;
        private String productVersion;
        private byte[] salt;
        private final List<byte[]> vendorKeys = new ArrayList<>();
        private final List<ComponentKind> componentKinds = new ArrayList<>();
        private final List<byte[]> componentValues = new ArrayList<>();
        private boolean probes = true;
        private long rollbackToleranceSecs = DEFAULT_ROLLBACK_TOLERANCE.getSeconds();
        private int warnDays = DEFAULT_WARN_DAYS;

        private Builder() {}

        /**
         * @param product the product id, e.g. {@code chariot}; usage licenses for other
         *     products are refused
         * @return this
         */
        public Builder product(String product) {
            this.product = Objects.requireNonNull(product);
            return this;
        }

        /**
         * @param productVersion the product's version, sent in usage requests
         * @return this
         */
        public Builder productVersion(String productVersion) {
            this.productVersion = Objects.requireNonNull(productVersion);
            return this;
        }

        /**
         * @param salt the product's fingerprint salt, as its UTF-8 bytes (as in the host
         *     configuration file)
         * @return this
         */
        public Builder fingerprintSalt(String salt) {
            return fingerprintSalt(salt.getBytes(StandardCharsets.UTF_8));
        }

        /**
         * @param salt the product's fingerprint salt; fixed for the product's lifetime
         * @return this
         */
        public Builder fingerprintSalt(byte[] salt) {
            this.salt = salt.clone();
            return this;
        }

        /**
         * Adds a vendor public key (several during a key rotation).
         *
         * @param hex 64 hex digits
         * @return this
         * @throws IllegalArgumentException when {@code hex} is not hexadecimal
         */
        public Builder vendorKey(String hex) {
            return vendorKey(HexFormat.of().parseHex(hex.trim()));
        }

        /**
         * Adds a vendor public key (several during a key rotation).
         *
         * @param key the 32-byte ed25519 public key
         * @return this
         */
        public Builder vendorKey(byte[] key) {
            vendorKeys.add(key.clone());
            return this;
        }

        /**
         * Sets a fingerprint component: it replaces what the probes find of that kind (like
         * {@code tollgate host --component KIND=VALUE}). Use it for a container or workload id,
         * a cloud instance id, an operator-supplied id, or a stable host name where the probed
         * one changes. Repeatable.
         *
         * @param kind the component kind
         * @param value the raw identifier, as its UTF-8 bytes; it never leaves the host (only a
         *     salted digest does)
         * @return this
         */
        public Builder component(ComponentKind kind, String value) {
            return component(kind, value.getBytes(StandardCharsets.UTF_8));
        }

        /**
         * {@link #component(ComponentKind, String)} with raw bytes.
         *
         * @param kind the component kind
         * @param value the raw identifier
         * @return this
         */
        public Builder component(ComponentKind kind, byte[] value) {
            componentKinds.add(Objects.requireNonNull(kind));
            componentValues.add(value.clone());
            return this;
        }

        /**
         * Do not run the platform probes: the fingerprint is made only of {@link #component}
         * values. For deterministic tests and for hosts that pin their identity.
         *
         * @return this
         */
        public Builder noProbes() {
            return probes(false);
        }

        /**
         * @param probes whether to run the platform probes (default {@code true})
         * @return this
         */
        public Builder probes(boolean probes) {
            this.probes = probes;
            return this;
        }

        /**
         * @param tolerance how far the clock may go back before a rollback is reported
         * @return this
         */
        public Builder rollbackTolerance(Duration tolerance) {
            this.rollbackToleranceSecs = tolerance.getSeconds();
            return this;
        }

        /**
         * @param days how many days before a subscription ends the status starts warning
         * @return this
         */
        public Builder warnDays(int days) {
            this.warnDays = days;
            return this;
        }

        /**
         * @return the configuration
         * @throws NullPointerException when product, version or salt is missing
         */
        public HostConfig build() {
            return new HostConfig(this);
        }
    }
}
