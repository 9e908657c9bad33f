package dev.tollgate;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.Optional;

/**
 * What the host application tells Tollgate about itself: the vendor's ROOT public key, the
 * product and its fingerprint salt, and how the host fingerprint is built. Immutable; make one
 * with {@link #builder(byte[])} or read the options file {@code tollgate vendor host-config}
 * writes with {@link #fromJson(String, byte[])} / {@link #fromFile(Path, byte[])}.
 *
 * <p><b>The root is compiled in.</b> A customer owns every file on their machine, so Tollgate
 * never takes a key from one: the vendor generates a {@code VendorRoot} class with
 * {@code tollgate vendor export-root --format java --package com.example} and passes
 * {@code VendorRoot.key()} here. The root never signs licenses; it certifies the vendor's
 * signing keys, whose certificates travel inside the usage licenses, so rotating a signing key
 * needs no new build. The options file is options only: a file that names keys, a root or a
 * security policy ({@code vendor_keys}, {@code rollback_tolerance_secs}, …) is refused with code
 * 235 ({@link ErrorCode#UNTRUSTED_CONFIG}); the rollback tolerance comes from the signed license.
 *
 * <p>The values are checked when a manager is opened or a license verified: an empty product,
 * version or salt, or a root that is not 32 bytes fail with code 211
 * ({@link ErrorCode#INVALID_ARGUMENT}); a root that is not a valid ed25519 point with 119
 * ({@link ErrorCode#BAD_PUBLIC_KEY}); a component of a kind the probes read without
 * {@link Builder#allowOverride(boolean)} with 238 ({@link ErrorCode#COMPONENT_OVERRIDE}); a key
 * certificate or key list the root did not sign with its core code (e.g. 124
 * {@link ErrorCode#KEY_NOT_CERTIFIED}).
 */
public final class HostConfig {
    /** Default {@link Builder#warnDays(int)}: 30. */
    public static final int DEFAULT_WARN_DAYS = 30;
    /** Default and floor of {@link Builder#minComponents(int)}: 2 distinct component kinds. */
    public static final int DEFAULT_MIN_COMPONENTS = 2;

    private final String product;
    private final String productVersion;
    private final byte[] salt;
    private final byte[] vendorRoot;
    private final List<String> keyCertificates;
    private final String keyList;
    private final List<ComponentKind> componentKinds;
    private final List<byte[]> componentValues;
    private final boolean probes;
    private final boolean allowOverride;
    private final int minComponents;
    private final int warnDays;

    /** Guards {@link #nativeHandle}. */
    private final Object nativeLock = new Object();
    /** The native configuration built from these values; 0 until first needed. */
    private long nativeHandle;

    private HostConfig(Builder b) {
        this.vendorRoot = b.vendorRoot.clone();
        this.product = Objects.requireNonNull(b.product, "product");
        this.productVersion = Objects.requireNonNull(b.productVersion, "productVersion");
        this.salt = Objects.requireNonNull(b.salt, "fingerprintSalt").clone();
        this.keyCertificates = List.copyOf(b.keyCertificates);
        this.keyList = b.keyList;
        this.componentKinds = List.copyOf(b.componentKinds);
        this.componentValues = copy(b.componentValues);
        this.probes = b.probes;
        this.allowOverride = b.allowOverride;
        this.minComponents = b.minComponents;
        this.warnDays = b.warnDays;
    }

    private static List<byte[]> copy(List<byte[]> in) {
        List<byte[]> out = new ArrayList<>(in.size());
        for (byte[] b : in) {
            out.add(b.clone());
        }
        return List.copyOf(out);
    }

    /**
     * A new builder trusting the vendor root {@code vendorRoot} (probes on, default warning
     * period and component minimum).
     *
     * @param vendorRoot the vendor's 32-byte root public key, compiled into the application
     *     ({@code VendorRoot.key()})
     * @return the builder
     * @throws NullPointerException when {@code vendorRoot} is null
     */
    public static Builder builder(byte[] vendorRoot) {
        return new Builder(vendorRoot);
    }

    /** A builder holding this configuration's values, to adjust them. */
    public Builder toBuilder() {
        Builder b = new Builder(vendorRoot).product(product).productVersion(productVersion)
                .fingerprintSalt(salt).warnDays(warnDays).probes(probes)
                .allowOverride(allowOverride).minComponents(minComponents);
        keyCertificates.forEach(b::keyCertificate);
        if (keyList != null) {
            b.keyList(keyList);
        }
        for (int i = 0; i < componentKinds.size(); i++) {
            b.component(componentKinds.get(i), componentValues.get(i));
        }
        return b;
    }

    /**
     * Reads a host configuration document, as written by {@code tollgate vendor host-config}:
     * options only, {@code {"product", "product_version", "fingerprint_salt", "warn_days"?,
     * "min_components"?, "key_certificates"?, "key_list"?}}, trusting the compiled-in root
     * {@code vendorRoot}. The fingerprint uses the platform probes; adjust with
     * {@link #toBuilder()}.
     *
     * @param json the document
     * @param vendorRoot the vendor's 32-byte root public key ({@code VendorRoot.key()})
     * @return the configuration
     * @throws LicenseException 235 when the document names keys, a root or a security policy;
     *     211 when it is not such a document or the root is not 32 bytes
     */
    public static HostConfig fromJson(String json, byte[] vendorRoot) throws LicenseException {
        return Native.hostConfigFromJson(Objects.requireNonNull(json, "json"),
                Objects.requireNonNull(vendorRoot, "vendorRoot"));
    }

    /**
     * {@link #fromJson(String, byte[])} of a file's content.
     *
     * @param file the host configuration file
     * @param vendorRoot the vendor's 32-byte root public key ({@code VendorRoot.key()})
     * @return the configuration
     * @throws IOException when the file cannot be read
     * @throws LicenseException 235 or 211, as {@link #fromJson(String, byte[])}
     */
    public static HostConfig fromFile(Path file, byte[] vendorRoot)
            throws IOException, LicenseException {
        return fromJson(Files.readString(file, StandardCharsets.UTF_8), vendorRoot);
    }

    static HostConfig fromNative(String product, String productVersion, byte[] salt,
            byte[] vendorRoot, Object[] keyCertificates, String keyList, int minComponents,
            int warnDays) {
        Builder b = builder(vendorRoot).product(product).productVersion(productVersion)
                .fingerprintSalt(salt).minComponents(minComponents).warnDays(warnDays);
        for (Object c : keyCertificates) {
            b.keyCertificate((String) c);
        }
        if (keyList != null) {
            b.keyList(keyList);
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

    /** A copy of the vendor's root public key (32 bytes when valid). */
    public byte[] vendorRoot() {
        return vendorRoot.clone();
    }

    /** The root-signed signing-key certificates ({@code TGKC:…}) given to the host. */
    public List<String> keyCertificates() {
        return keyCertificates;
    }

    /** The root-signed key list ({@code TGKL:…}) given to the host, if any. */
    public Optional<String> keyList() {
        return Optional.ofNullable(keyList);
    }

    /** Whether the platform probes run (else only {@link Builder#component} values count). */
    public boolean probes() {
        return probes;
    }

    /** Whether components may claim kinds the probes read ({@link Builder#allowOverride}). */
    public boolean allowOverride() {
        return allowOverride;
    }

    /** The least number of distinct component kinds a usage request must carry. */
    public int minComponents() {
        return minComponents;
    }

    /** The kinds of the application-supplied components, in order. */
    public List<ComponentKind> componentKinds() {
        return componentKinds;
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
                long h = Native.hostConfigNew(product, productVersion, salt, vendorRoot,
                        keyCertificates.toArray(new String[0]), keyList,
                        componentKinds.stream().mapToInt(ComponentKind::wire).toArray(),
                        componentValues.toArray(new byte[0][]), probes, allowOverride,
                        minComponents, warnDays);
                Handles.CLEANER.register(this, () -> Native.hostConfigFree(h));
                nativeHandle = h;
            }
            return nativeHandle;
        }
    }

    /** Builds a {@link HostConfig}. Not thread-safe. */
    public static final class Builder {
        private final byte[] vendorRoot;
        private String product;
        private String productVersion;
        private byte[] salt;
        private final List<String> keyCertificates = new ArrayList<>();
        private String keyList;
        private final List<ComponentKind> componentKinds = new ArrayList<>();
        private final List<byte[]> componentValues = new ArrayList<>();
        private boolean probes = true;
        private boolean allowOverride;
        private int minComponents = DEFAULT_MIN_COMPONENTS;
        private int warnDays = DEFAULT_WARN_DAYS;

        private Builder(byte[] vendorRoot) {
            this.vendorRoot = Objects.requireNonNull(vendorRoot, "vendorRoot").clone();
        }

        /**
         * Replaces the vendor root (e.g. in a test of a wrong root).
         *
         * @param vendorRoot the 32-byte root public key
         * @return a builder with the other values of this one
         */
        public Builder vendorRoot(byte[] vendorRoot) {
            Builder b = new Builder(vendorRoot).product(product).productVersion(productVersion)
                    .warnDays(warnDays).probes(probes).allowOverride(allowOverride)
                    .minComponents(minComponents);
            b.salt = salt;
            b.keyCertificates.addAll(keyCertificates);
            b.keyList = keyList;
            b.componentKinds.addAll(componentKinds);
            b.componentValues.addAll(componentValues);
            return b;
        }

        /**
         * @param product the product id, e.g. {@code chariot}; usage licenses for other
         *     products are refused
         * @return this
         */
        public Builder product(String product) {
            this.product = product;
            return this;
        }

        /**
         * @param productVersion the product's version, sent in usage requests
         * @return this
         */
        public Builder productVersion(String productVersion) {
            this.productVersion = productVersion;
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
         * Adds a root-signed signing-key certificate ({@code TGKC:…}), for usage licenses that
         * do not carry their signer's. It counts only when the vendor root signed it.
         *
         * @param certificate the certificate's text
         * @return this
         */
        public Builder keyCertificate(String certificate) {
            keyCertificates.add(Objects.requireNonNull(certificate));
            return this;
        }

        /**
         * Sets the vendor's root-signed key list ({@code TGKL:…}) retiring signing keys. The
         * host keeps the highest sequence it has seen.
         *
         * @param list the key list's text
         * @return this
         */
        public Builder keyList(String list) {
            this.keyList = Objects.requireNonNull(list);
            return this;
        }

        /**
         * Sets a fingerprint component: it replaces what the probes find of that kind (like
         * {@code tollgate host --component KIND=VALUE}). Use it for a container or workload id,
         * a cloud instance id or an operator-supplied id; a kind the probes read (machine id,
         * DMI UUID, MAC, root disk, host name) also needs {@link #allowOverride(boolean)}.
         * Repeatable.
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
         * Allows {@link #component} values of kinds the platform probes read. Such a value
         * claims an identity instead of measuring it: for tests and documented escape hatches
         * only. Without it (the default) opening fails with code 238.
         *
         * @param allow whether to allow it (default {@code false})
         * @return this
         */
        public Builder allowOverride(boolean allow) {
            this.allowOverride = allow;
            return this;
        }

        /**
         * @param kinds the least number of distinct component kinds a usage request must carry
         *     (default and floor {@link #DEFAULT_MIN_COMPONENTS}; a request with fewer fails
         *     with code 237)
         * @return this
         */
        public Builder minComponents(int kinds) {
            this.minComponents = kinds;
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
