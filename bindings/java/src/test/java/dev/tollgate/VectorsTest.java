package dev.tollgate;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.stream.Stream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * The shared vectors (tests/vectors) through the Java API: every usage-license case through
 * {@link LicenseManager#verify}, the license keys through {@link LicenseManager#requestUsage},
 * the public keys as {@link HostConfig} roots, and the fingerprint derivation through the
 * host components. (Licenses, usage requests and deactivation codes are decoded on the
 * vendor's side, which the host API does not offer.)
 */
class VectorsTest {
    /**
     * Raw identifiers of the replacement hardware in tests/src/fixtures.rs
     * ({@code REPLACED_IDENTIFIERS}); the manifest has only their digests. A wrong value here
     * shows up as a wrong fingerprint match below.
     */
    private static final Map<Integer, String> REPLACED = Map.of(
            1, "0f9e8d7c6b5a49382716054f3e2d1c0b",
            2, "00000000-0000-0000-0000-0cc47a1b2c3d",
            3, "3c:ec:ef:ab:cd:ef",
            4, "nvme-WD_BLACK_SN850X_2TB_23412A800123",
            5, "broker-1-replacement.acme.example");

    private static final JsonObject FINGERPRINT = Vectors.named("fingerprint_components");

    /** Raw identifier of the reference host per kind, from the fingerprint case. */
    private static Map<Integer, byte[]> referenceRaw() {
        Map<Integer, byte[]> out = new HashMap<>();
        for (JsonElement e : FINGERPRINT.getAsJsonObject("inputs").getAsJsonArray("components")) {
            JsonObject c = e.getAsJsonObject();
            out.put(c.get("kind").getAsInt(), Vectors.hex(c.get("raw")));
        }
        return out;
    }

    /** Digest of the reference host per kind. */
    private static Map<Integer, String> referenceDigests() {
        Map<Integer, String> out = new HashMap<>();
        for (JsonElement e : Vectors.fields(FINGERPRINT).getAsJsonArray("components")) {
            JsonObject c = e.getAsJsonObject();
            out.put(c.get("kind").getAsInt(), c.get("digest").getAsString());
        }
        return out;
    }

    /**
     * The armored text of an artifact whose bytes are {@code hex} (core/SPEC.md §3):
     * {@code PREFIX ":" base64url(bytes || CRC-32(bytes) little-endian)}, no padding.
     */
    private static String armor(String prefix, String hex) {
        byte[] bytes = java.util.HexFormat.of().parseHex(hex);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(bytes);
        byte[] withCrc = java.util.Arrays.copyOf(bytes, bytes.length + 4);
        for (int i = 0; i < 4; i++) {
            withCrc[bytes.length + i] = (byte) (crc.getValue() >>> (8 * i));
        }
        return prefix + ":"
                + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(withCrc);
    }

    /**
     * The configuration of the host a case describes: its product and salt; its root, the
     * certificates and key list it was given (trusted-usage-license), or for a case written
     * for a host trusting a list of vendor keys (usage-license) the reference root and its
     * certificate of the reference vendor key; its fingerprint given as raw components (probes
     * off, the override allowed): the reference host's where its digest is the reference one,
     * replaced hardware elsewhere.
     */
    static HostConfig configFor(JsonObject c) {
        JsonObject in = c.getAsJsonObject("inputs");
        JsonObject reference = Vectors.named("key_certificate");
        byte[] root = in.has("root_public_key") ? Vectors.hex(in.get("root_public_key"))
                : Vectors.hex(reference.getAsJsonObject("inputs").get("root_public_key"));
        HostConfig.Builder b = HostConfig.builder(root).product(in.get("product").getAsString())
                .productVersion("4.2.0")
                .fingerprintSalt(Vectors.hex(FINGERPRINT.getAsJsonObject("inputs").get("salt")))
                .noProbes().allowOverride(true);
        if (!in.has("root_public_key")) {
            b.keyCertificate(Vectors.text(reference));
        }
        if (in.has("certificates")) {
            for (JsonElement k : in.getAsJsonArray("certificates")) {
                b.keyCertificate(armor("TGKC", k.getAsString()));
            }
        }
        if (in.has("key_list") && !in.get("key_list").isJsonNull()) {
            b.keyList(armor("TGKL", in.get("key_list").getAsString()));
        }
        Map<Integer, byte[]> raw = referenceRaw();
        Map<Integer, String> digests = referenceDigests();
        for (JsonElement e : in.getAsJsonArray("host_fingerprint")) {
            int kind = e.getAsJsonObject().get("kind").getAsInt();
            String digest = e.getAsJsonObject().get("digest").getAsString();
            byte[] value = digest.equals(digests.get(kind)) ? raw.get(kind)
                    : REPLACED.get(kind).getBytes(StandardCharsets.UTF_8);
            b.component(ComponentKind.ofWire(kind), value);
        }
        return b.build();
    }

    @TestFactory
    Stream<DynamicTest> usageLicenses() {
        List<DynamicTest> tests = new ArrayList<>();
        List<JsonObject> cases = new ArrayList<>(Vectors.cases("usage-license"));
        cases.addAll(Vectors.cases("trusted-usage-license"));
        int aboutKeyLists = 0;
        for (JsonObject c : cases) {
            String text = Vectors.text(c);
            if (text == null) {
                continue; // binary-only: the Java API takes armored text
            }
            if (aboutTheKeyList(c)) {
                aboutKeyLists++;
                continue;
            }
            tests.add(DynamicTest.dynamicTest(c.get("name").getAsString(),
                    () -> checkUsageLicense(c, text)));
        }
        assertEquals(3, aboutKeyLists);
        assertEquals(47, tests.size(), "usage-license cases with text: " + tests.size());
        return tests.stream();
    }

    /**
     * A usage-license case written for a host trusting a list of vendor keys that no
     * certificate can stand for: its signer is not the reference key (a rotated key), or it is
     * about a key missing from the list. The trusted-usage-license cases cover the trust path.
     */
    private static boolean aboutTheKeyList(JsonObject c) {
        if (!c.getAsJsonObject("inputs").has("vendor_public_keys")) {
            return false;
        }
        if (!Vectors.expectsOk(c)) {
            return c.getAsJsonObject("expect").get("error").getAsString().equals("UnknownKeyId");
        }
        return !Vectors.fields(c).get("key_id").getAsString().equals("35158a60bf49f6a4");
    }

    private static void checkUsageLicense(JsonObject c, String text) throws LicenseException {
        HostConfig config = configFor(c);
        Instant now = Instant.ofEpochSecond(c.getAsJsonObject("inputs").get("now").getAsLong());
        if (!Vectors.expectsOk(c)) {
            LicenseException e = assertThrows(LicenseException.class,
                    () -> LicenseManager.verify(config, text, now));
            assertEquals(Vectors.expectedCode(c), e.code(), e.toString());
            assertEquals(c.getAsJsonObject("expect").get("error").getAsString(), e.errorName());
            assertInstanceOf(InvalidArtifactException.class, e);
            return;
        }
        LicenseInfo info = LicenseManager.verify(config, text, now);
        JsonObject f = Vectors.fields(c);
        JsonObject terms = f.getAsJsonObject("terms");
        JsonObject grant = terms.getAsJsonObject("grant");
        assertEquals(f.get("key_id").getAsString(), info.vendorKeyId());
        assertEquals(grant.get("license_id").getAsLong(), info.licenseId());
        assertEquals(grant.get("revision").getAsInt(), info.revision());
        assertEquals(grant.get("customer").getAsString(), info.customer());
        assertEquals(grant.get("product").getAsString(), info.product());
        assertEquals(terms.get("activation_id").getAsLong(), info.activationId());
        assertEquals(terms.get("model").getAsString().toUpperCase(),
                info.deploymentModel().name());
        assertEquals(Instant.ofEpochSecond(terms.get("issued_at").getAsLong()), info.issuedAt());
        assertEquals(optionalInstant(terms.get("refresh_deadline")), info.refreshDeadline());
        long validFrom = f.get("valid_from").getAsLong();
        assertEquals(validFrom == 0 ? Optional.empty()
                : Optional.of(Instant.ofEpochSecond(validFrom)), info.validFrom());
        assertEquals(optionalInstant(f.get("valid_until")), info.validUntil());
        assertEquals(Optional.empty(), info.installedAt());
        JsonObject fp = f.getAsJsonObject("fingerprint_match");
        assertEquals(new FingerprintMatch(fp.get("matched").getAsInt(),
                fp.get("licensed").getAsInt(), fp.get("required").getAsInt(), true),
                info.fingerprint());
        List<String> active = new ArrayList<>();
        f.getAsJsonArray("active_features").forEach(a -> active.add(a.getAsString()));
        assertEquals(active, info.features().stream().filter(FeatureStatus::active)
                .map(FeatureStatus::name).toList());
        List<JsonElement> features = grant.getAsJsonArray("features").asList();
        assertEquals(features.size(), info.features().size());
        for (int i = 0; i < features.size(); i++) {
            JsonObject want = features.get(i).getAsJsonObject();
            FeatureStatus got = info.features().get(i);
            assertEquals(want.get("name").getAsString(), got.name());
            assertEquals(want.get("kind").getAsString().toUpperCase(), got.kind().name());
            assertEquals(optionalInstant(want.get("expires_at")), got.expiresAt());
            if (got.kind() == FeatureKind.METERED) {
                assertEquals(want.get("quota").getAsLong(), got.quota().getAsLong());
                assertEquals(want.get("period").getAsString(), got.period().orElseThrow());
            } else {
                assertTrue(got.quota().isEmpty());
                assertTrue(got.period().isEmpty());
            }
            assertTrue(got.used().isEmpty(), "verify reports no meter counts");
        }
        assertEquals(info, LicenseManager.verify(config, text, now), "deterministic");
    }

    private static Optional<Instant> optionalInstant(JsonElement e) {
        return e == null || e.isJsonNull() ? Optional.empty()
                : Optional.of(Instant.ofEpochSecond(e.getAsLong()));
    }

    @Test
    void fingerprintComponentsDeriveTheReferenceDigests() throws LicenseException {
        // The fingerprint case has no file: its derivation shows through verification. With the
        // raw components, the reference usage license matches 5 of 5.
        JsonObject c = Vectors.named("usage_license_offline");
        LicenseInfo info = LicenseManager.verify(configFor(c), Vectors.text(c),
                Instant.ofEpochSecond(c.getAsJsonObject("inputs").get("now").getAsLong()));
        assertEquals(new FingerprintMatch(5, 5, 3, true), info.fingerprint());
        // Another salt derives other digests: nothing matches.
        HostConfig otherSalt = configFor(c).toBuilder().fingerprintSalt("another salt").build();
        LicenseException e = assertThrows(LicenseException.class, () -> LicenseManager.verify(
                otherSalt, Vectors.text(c), Instant.ofEpochSecond(1_768_478_400L)));
        assertEquals(ErrorCode.FINGERPRINT_MISMATCH, e.code());
    }

    @Test
    void licenseKeys(@TempDir Path dir) throws LicenseException {
        HostConfig config = configFor(Vectors.named("usage_license_offline"));
        List<JsonObject> cases = Vectors.cases("license-key");
        assertEquals(6, cases.size());
        try (LicenseManager m = LicenseManager.open(dir, config)) {
            for (JsonObject c : cases) {
                String key = Vectors.text(c);
                if (Vectors.expectsOk(c)) {
                    String request = m.requestUsage(key);
                    assertTrue(request.startsWith("TGRQ:"), request);
                    assertEquals(Optional.of(request), m.pendingRequest());
                } else {
                    InvalidArtifactException e = assertThrows(InvalidArtifactException.class,
                            () -> m.requestUsage(key), c.get("name").getAsString());
                    assertEquals(Vectors.expectedCode(c), e.code());
                    assertFalse(e.getMessage().contains(key.trim()), "no key in messages");
                }
            }
        }
    }

    @Test
    void publicKeys(@TempDir Path dir) throws IOException, LicenseException {
        List<JsonObject> cases = Vectors.cases("public-key");
        assertEquals(7, cases.size());
        int i = 0;
        for (JsonObject c : cases) {
            // The key as the root: a weak or invalid one is refused when a manager opens.
            HostConfig config = HostConfig.builder(Vectors.binary(c)).product("chariot")
                    .productVersion("4.2.0").fingerprintSalt("s").noProbes()
                    .component(ComponentKind.OPERATOR, "op").build();
            Path state = dir.resolve("state-" + i++);
            if (Vectors.expectsOk(c)) {
                try (LicenseManager m = LicenseManager.open(state, config)) {
                    assertEquals(LicenseState.UNLICENSED, m.status().state());
                }
            } else {
                InvalidArtifactException e = assertThrows(InvalidArtifactException.class,
                        () -> LicenseManager.open(state, config), c.get("name").getAsString());
                assertEquals(Vectors.expectedCode(c), e.code());
                assertEquals(ErrorCode.BAD_PUBLIC_KEY, e.code());
            }
        }
    }

    @Test
    void everyCoreErrorIsReachedThroughTheJavaApi() {
        // Codes 100–116 through verify, 117/118 through requestUsage, 119 through a vendor key;
        // 120 (a format limit) has no vector: it is covered by the table test.
        List<Integer> reached = new ArrayList<>();
        for (JsonObject c : Vectors.MANIFEST.getAsJsonArray("cases").asList().stream()
                .map(JsonElement::getAsJsonObject).toList()) {
            if (!Vectors.expectsOk(c)) {
                reached.add(Vectors.expectedCode(c));
            }
        }
        for (int code = 100; code <= 119; code++) {
            assertTrue(reached.contains(code), "no vector for " + code);
        }
        assertNotNull(Vectors.DIR);
    }
}
