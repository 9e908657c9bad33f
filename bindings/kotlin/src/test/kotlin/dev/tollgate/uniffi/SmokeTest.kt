package dev.tollgate.uniffi

import com.google.gson.JsonObject
import com.google.gson.JsonParser
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import kotlin.io.path.readText
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/**
 * Smoke tests of the generated Kotlin binding: open a manager and make a usage request, verify
 * the shared vectors (tests/vectors), check error codes. The Python suite
 * (bindings/python/tests) covers the whole lifecycle.
 */
class SmokeTest {
    private val vectors: Path = Paths.get(System.getProperty("tollgate.vectors"))
    private val manifest: JsonObject =
        JsonParser.parseString(vectors.resolve("manifest.json").readText()).asJsonObject
    private val cases = manifest.getAsJsonArray("cases").map { it.asJsonObject }

    private fun case(name: String) = cases.first { it.get("name").asString == name }

    private fun text(case: JsonObject) =
        String(Files.readAllBytes(vectors.resolve(case.get("text").asString)), Charsets.UTF_8)

    private fun hex(s: String) = ByteArray(s.length / 2) { s.substring(2 * it, 2 * it + 2).toInt(16).toByte() }

    /** The armored text of an artifact (core/SPEC.md §3): base64url(bytes ‖ CRC-32 LE), no padding. */
    private fun armor(prefix: String, hexBytes: String): String {
        val raw = hex(hexBytes)
        val crc = java.util.zip.CRC32().apply { update(raw) }.value
        val withCrc = raw + ByteArray(4) { (crc shr (8 * it)).toByte() }
        return "$prefix:" + java.util.Base64.getUrlEncoder().withoutPadding().encodeToString(withCrc)
    }

    private val certificateCase = case("key_certificate")

    private val kinds = mapOf(
        1 to ComponentKind.MACHINE_ID, 2 to ComponentKind.DMI_PRODUCT_UUID,
        3 to ComponentKind.MAC, 4 to ComponentKind.ROOT_DISK, 5 to ComponentKind.HOSTNAME,
        6 to ComponentKind.WORKLOAD, 7 to ComponentKind.CLOUD_INSTANCE, 8 to ComponentKind.OPERATOR,
    )

    /**
     * A configuration for a case's host. The host's fingerprint is given as digests; the raw
     * identifiers are known for the reference host's only (the `fingerprint` case). A component
     * whose digest is not the reference one cannot match the license either way, so leaving it
     * out gives the same match as the case describes. The host trusts a root: the case's, or for
     * a case written for a key list, the reference root with its certificate of the reference
     * vendor key.
     */
    private fun config(inputs: JsonObject): HostConfig {
        val reference = cases.first { it.get("artifact").asString == "fingerprint" }
        val refInputs = reference.getAsJsonObject("inputs")
        val salt = String(hex(refInputs.get("salt").asString), Charsets.UTF_8)
        val raw = refInputs.getAsJsonArray("components").associate {
            val c = it.asJsonObject
            c.get("kind").asInt to hex(c.get("raw").asString)
        }
        val digests = reference.getAsJsonObject("expect").getAsJsonObject("fields")
            .getAsJsonArray("components").associate {
                val c = it.asJsonObject
                c.get("kind").asInt to c.get("digest").asString
            }
        val components = inputs.getAsJsonArray("host_fingerprint").mapNotNull {
            val c = it.asJsonObject
            val kind = c.get("kind").asInt
            if (digests[kind] == c.get("digest").asString) FingerprintComponent(kinds.getValue(kind), raw.getValue(kind)) else null
        }
        val own = inputs.has("root_public_key")
        val root = if (own) inputs.get("root_public_key").asString
            else certificateCase.getAsJsonObject("inputs").get("root_public_key").asString
        val certificates = if (own) inputs.getAsJsonArray("certificates").map { armor("TGKC", it.asString) }
            else listOf(text(certificateCase).trim())
        val keyList = inputs.get("key_list")?.takeIf { !it.isJsonNull }?.let { armor("TGKL", it.asString) }
        return HostConfig(
            product = inputs.get("product").asString,
            productVersion = "4.2.0",
            fingerprintSalt = salt,
            vendorRoot = hex(root),
            probes = false,
            components = components,
            allowOverride = true,
            keyCertificates = certificates,
            keyList = keyList,
        )
    }

    private val referenceConfig get() = config(case("usage_license_offline").getAsJsonObject("inputs"))

    @Test
    fun versionAndErrorTable() {
        assertTrue(version().isNotEmpty())
        assertEquals("KeyChecksum", errorInfo(118u)?.name)
        val core = manifest.getAsJsonArray("errors").map { it.asJsonObject.get("code").asInt.toUInt() }
        assertEquals(core, allErrors().map { it.code }.filter { it < 200u })
    }

    @Test
    fun openRequestAndRelease(@TempDir dir: Path) {
        LicenseManager.open(referenceConfig, dir.resolve("state").toString()).use { m ->
            assertEquals(LicenseState.UNLICENSED, m.status().state)
            val request = m.requestUsage(text(case("license_key")))
            assertTrue(request.startsWith("TGRQ:"))
            assertEquals(request, m.pendingRequest())
            assertEquals(LicenseState.PENDING, m.status().state)
            assertTrue(m.statusJson().contains("\"pending\""))
            assertFalse(m.hasFeature("mqtt-server"))
            val e = assertThrows<TollgateException.Runtime> { m.check() }
            assertEquals(200u, e.code)
            // A second manager on the same state directory is refused while this one is open.
            val locked = assertThrows<TollgateException> { LicenseManager.open(referenceConfig, dir.resolve("state").toString()) }
            assertEquals(213u, locked.code())
        }
        // `use` closed it: the directory is free again.
        LicenseManager.open(referenceConfig, dir.resolve("state").toString()).use { m ->
            assertTrue(m.status().pendingRequest)
        }
    }

    @Test
    fun typoInKey(@TempDir dir: Path) {
        val clock = ManualClock(1_767_258_000u)
        LicenseManager.openWithClock(referenceConfig, dir.toString(), clock).use { m ->
            val e = assertThrows<TollgateException.Rejected> { m.requestUsage(text(case("license_key_typo"))) }
            assertEquals(118u, e.code)
            assertEquals("KeyChecksum", e.name)
            assertEquals(118u, e.code())
            assertEquals(LicenseState.UNLICENSED, m.status().state)
        }
    }

    /** A key-list case no certificate can stand for (a rotated or unknown key). */
    private fun aboutTheKeyList(c: JsonObject): Boolean {
        if (!c.getAsJsonObject("inputs").has("vendor_public_keys")) return false
        val expect = c.getAsJsonObject("expect")
        if (expect.get("result").asString != "ok") return expect.get("error").asString == "UnknownKeyId"
        return expect.getAsJsonObject("fields").get("key_id").asString !=
            certificateCase.getAsJsonObject("expect").getAsJsonObject("fields").get("key_id").asString
    }

    @Test
    fun usageLicenseVectors() {
        var checked = 0
        val trustCases = cases.filter {
            it.get("artifact").asString in setOf("usage-license", "trusted-usage-license") && !it.get("text").isJsonNull
        }
        for (c in trustCases.filter { !aboutTheKeyList(it) }) {
            val inputs = c.getAsJsonObject("inputs")
            val expect = c.getAsJsonObject("expect")
            val now = inputs.get("now").asLong.toULong()
            val name = c.get("name").asString
            if (expect.get("result").asString == "ok") {
                val info = verify(config(inputs), text(c), now)
                val terms = expect.getAsJsonObject("fields").getAsJsonObject("terms")
                assertEquals(terms.getAsJsonObject("grant").get("license_id").asLong.toULong(), info.licenseId, name)
                assertEquals(terms.get("activation_id").asLong.toULong(), info.activationId, name)
                val active = expect.getAsJsonObject("fields").getAsJsonArray("active_features").map { it.asString }
                assertEquals(active, info.features.filter { it.active }.map { it.name }, name)
            } else {
                val e = assertThrows<TollgateException.Rejected>(name) { verify(config(inputs), text(c), now) }
                assertEquals(expect.get("code").asInt.toUInt(), e.code, name)
                assertEquals(expect.get("error").asString, e.name, name)
            }
            checked++
        }
        assertEquals(47, checked)
        assertNotNull(case("usage_license_offline"))
    }
}
