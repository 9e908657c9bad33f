package dev.tollgate.uniffi

import com.google.gson.JsonObject
import com.google.gson.JsonParser
import java.net.ServerSocket
import java.nio.file.Files
import java.nio.file.Path
import java.nio.file.Paths
import java.util.concurrent.TimeUnit
import kotlin.io.path.readText
import kotlin.io.path.writeText
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.fail

/** A binary named by the system property [property] (set by the pom to target/debug). */
internal fun binary(property: String): Path {
    val path = Paths.get(System.getProperty(property) ?: fail("system property $property is not set"))
    assertTrue(Files.isExecutable(path), "$path is not built (see bindings/kotlin/test.sh)")
    return path
}

/** The URL of a port on 127.0.0.1 that nobody listens on (bound, then closed). */
internal fun deadUrl(): String = ServerSocket(0).use { "http://127.0.0.1:${it.localPort}" }

/**
 * The vendor in tests: `tollgate --json vendor …` (system property `tollgate.cli`) on a
 * directory holding the published development root (`tollgate.devRootSeed`), at the real time
 * (the servers use the system clock), and the host configuration it writes.
 */
internal class Vendor(val dir: Path) {
    val vendorDir: Path = dir.resolve("vendor")
    val hostConfigFile: Path = dir.resolve("host-config.json")

    init {
        Files.createDirectories(dir)
        run("init", "--import-root", System.getProperty("tollgate.devRootSeed"))
        run("host-config", "--product", "chariot", "--product-version", "4.2.0",
            "--salt", "chariot/fingerprint/kotlin-tests", "--out", hostConfigFile.toString())
    }

    /** Runs `tollgate --json vendor --dir DIR ARGS`; fails on a non-zero exit. */
    fun run(vararg args: String): JsonObject {
        val out = Files.createTempFile(dir, "cli", ".out")
        val err = Files.createTempFile(dir, "cli", ".err")
        val p = ProcessBuilder(listOf(binary("tollgate.cli").toString(), "--json", "vendor", "--dir",
            vendorDir.toString()) + args)
            .redirectOutput(out.toFile()).redirectError(err.toFile()).start()
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "tollgate timed out")
        assertEquals(0, p.exitValue()) { "tollgate vendor ${args.toList()}: ${err.readText()}" }
        val text = out.readText()
        return if (text.isBlank()) JsonObject() else JsonParser.parseString(text).asJsonObject
    }

    /** Issues a license for `chariot` with the given `--feature`s and other options. */
    fun issue(vararg options: String): String =
        run("issue", "--product", "chariot", "--customer", "ACME Industrial", *options)
            .get("key").asString

    /** The host configuration of a simulated machine: the compiled-in root, no probes. */
    fun hostConfig(machine: String): HostConfig =
        hostConfigFromJson(hostConfigFile.readText(), DEV_ROOT).copy(
            probes = false,
            allowOverride = true,
            components = listOf(
                FingerprintComponent(ComponentKind.MACHINE_ID, "machine-id-$machine".toByteArray()),
                FingerprintComponent(ComponentKind.DMI_PRODUCT_UUID, "uuid-$machine".toByteArray()),
                FingerprintComponent(ComponentKind.ROOT_DISK, "disk-$machine".toByteArray()),
                FingerprintComponent(ComponentKind.HOSTNAME, "$machine.plant.local".toByteArray()),
            ),
        )

    companion object {
        /** The published development root's public key, as an application compiles it in. */
        val DEV_ROOT: ByteArray =
            "43a72e714401762df66b68c26dfbdf2682aaec9f2474eca4613e424a0fbafd3c".chunked(2)
                .map { it.toInt(16).toByte() }.toByteArray()
    }
}

/**
 * A server process on 127.0.0.1 (port 0: the system picks one); [url] once it listens.
 * [stop] ends it.
 */
internal class Server(command: List<String>, env: Map<String, String>, private val log: Path) {
    private val process: Process
    val url: String

    init {
        val pb = ProcessBuilder(command).redirectErrorStream(true).redirectOutput(log.toFile())
        pb.environment().putAll(env)
        process = pb.start()
        var found: String? = null
        for (i in 0 until 600) {
            found = LISTENING.find(log.readText())?.value
            if (found != null) break
            assertTrue(process.isAlive) { "${command[0]} exited: ${log.readText()}" }
            Thread.sleep(50)
        }
        if (found == null) {
            stop()
            fail("${command[0]} did not start: ${log.readText()}")
        }
        url = "http://$found"
    }

    fun stop() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly().waitFor(10, TimeUnit.SECONDS)
        }
    }

    companion object {
        private val LISTENING = Regex("127\\.0\\.0\\.1:[1-9][0-9]*")
    }
}

/** Writes [text] to [path] and returns it. */
internal fun write(path: Path, text: String): Path = path.also { it.writeText(text) }
