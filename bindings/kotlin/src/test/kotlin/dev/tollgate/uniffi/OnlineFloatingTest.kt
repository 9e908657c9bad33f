package dev.tollgate.uniffi

import java.net.InetAddress
import java.net.ServerSocket
import java.nio.file.Path
import java.util.concurrent.Executors
import java.util.concurrent.TimeUnit
import org.junit.jupiter.api.Assertions.assertEquals
import org.junit.jupiter.api.Assertions.assertFalse
import org.junit.jupiter.api.Assertions.assertNotEquals
import org.junit.jupiter.api.Assertions.assertNotNull
import org.junit.jupiter.api.Assertions.assertTrue
import org.junit.jupiter.api.Test
import org.junit.jupiter.api.assertThrows
import org.junit.jupiter.api.io.TempDir

/**
 * The online and floating clients of the Kotlin binding against a real `tollgate-server`
 * (system property `tollgate.server`) and a real `tollgate-floating` (`tollgate.floating`) on
 * 127.0.0.1, with the vendor played by the `tollgate` command (`tollgate.cli`): activate,
 * reactivate, deactivate; checkout, feature check, release; the services' refusals with their
 * own codes (303, 340); and the services being down (230).
 */
class OnlineFloatingTest {
    @TempDir
    lateinit var tmp: Path

    private fun onlineService(vendor: Vendor): Server = Server(
        listOf(binary("tollgate.server").toString()),
        mapOf(
            "TOLLGATE_DATA_DIR" to vendor.vendorDir.toString(),
            "TOLLGATE_LISTEN" to "127.0.0.1:0",
            "TOLLGATE_LOG_FORMAT" to "text",
            "TOLLGATE_ADMIN_TOKEN" to "kotlin-online-test-admin-token",
            "NO_COLOR" to "1",
        ),
        tmp.resolve("server.log"),
    )

    @Test
    fun activateReactivateDeactivate() {
        val vendor = Vendor(tmp.resolve("v"))
        val key = vendor.issue("--feature", "mqtt-server", "--models", "online", "--activations", "1")
        val server = onlineService(vendor)
        try {
            val bad = assertThrows<TollgateException.Runtime> { OnlineClient("ftp://example.com") }
            assertEquals(211u, bad.code)
            val online = OnlineClient(server.url)
            val dead = OnlineClient(deadUrl(), OnlineOptions(attempts = 1u))
            LicenseManager.open(vendor.hostConfig("a"), tmp.resolve("host-a").toString()).use { m ->
                assertEquals(200u, assertThrows<TollgateException.Runtime> { online.reactivate(m) }.code)
                val down = assertThrows<TollgateException.Service> { dead.activate(m, key) }
                assertEquals(230u, down.code)
                assertEquals("ServiceUnreachable", down.name)

                val status = online.activate(m, key)
                assertEquals(LicenseState.ACTIVE, status.state)
                val info = status.license!!
                assertEquals("online", info.deploymentModel)
                assertNotNull(info.refreshDeadline)
                // The same times as Unix seconds: no text to parse.
                assertEquals(info.refreshDeadlineSecs, info.validUntilSecs)
                assertTrue(info.refreshDeadlineSecs!! > info.issuedAtSecs)
                assertEquals(status.checkedAtSecs, info.installedAtSecs)
                assertTrue(m.hasFeature("mqtt-server"))

                val again = online.reactivate(m)
                assertEquals(info.activationId, again.license?.activationId)
                assertEquals(230u, assertThrows<TollgateException.Service> { dead.reactivate(m) }.code)
                assertTrue(m.hasFeature("mqtt-server"))

                // One seat: another machine is refused with the service's own code, 303.
                LicenseManager.open(vendor.hostConfig("b"), tmp.resolve("host-b").toString()).use { b ->
                    val e = assertThrows<TollgateException.Service> { online.activate(b, key) }
                    assertEquals(303u, e.code)
                    assertEquals("SeatsExhausted", e.name)
                    assertFalse(b.hasFeature("mqtt-server"))
                }

                val done = online.deactivate(m)
                assertTrue(done.code.startsWith("TGDC:"))
                assertFalse(done.alreadyFreed)
                assertFalse(m.hasFeature("mqtt-server"))
                assertEquals(Deactivation(done.code, true), online.sendDeactivation(done.code))
            }
            dead.close()
            online.close()
        } finally {
            server.stop()
        }
    }

    @Test
    fun floatingCheckoutAndRelease() {
        val vendor = Vendor(tmp.resolve("v"))
        val key = vendor.issue("--feature", "mqtt-server", "--models", "floating", "--floating-seats", "1")
        val env = mapOf(
            "TOLLGATE_FLOATING_STATE_DIR" to tmp.resolve("floating").toString(),
            "TOLLGATE_HOST_CONFIG" to vendor.hostConfigFile.toString(),
            "TOLLGATE_FLOATING_COMPONENTS" to "operator=kt-floating-server;workload=kt-floating;cloud-instance=i-kf",
            "TOLLGATE_FLOATING_PROBES" to "0",
            "TOLLGATE_FLOATING_LISTEN" to "127.0.0.1:0",
            "TOLLGATE_LOG_FORMAT" to "text",
            "NO_COLOR" to "1",
        )
        fun floating(vararg args: String): String {
            val out = tmp.resolve("floating.out")
            val pb = ProcessBuilder(listOf(binary("tollgate.floating").toString()) + args)
                .redirectOutput(out.toFile()).redirectError(ProcessBuilder.Redirect.INHERIT)
            pb.environment().putAll(env)
            val p = pb.start()
            assertTrue(p.waitFor(60, java.util.concurrent.TimeUnit.SECONDS))
            assertEquals(0, p.exitValue()) { "tollgate-floating ${args.toList()} failed" }
            return out.toFile().readText().trim()
        }
        val usage = vendor.run("fulfil", "--model", "floating", floating("request", "--key", key))
            .get("usage_license").asString
        floating("install", write(tmp.resolve("floating.tgul"), usage).toString())
        val server = Server(listOf(binary("tollgate.floating").toString(), "serve"), env,
            tmp.resolve("floating.log"))
        try {
            val features = listOf("mqtt-server")
            assertEquals(211u, assertThrows<TollgateException.Runtime> {
                FloatingClient(vendor.hostConfig("a"), server.url, emptyList())
            }.code)
            FloatingClient(vendor.hostConfig("a"), server.url, features).use { a ->
                FloatingClient(vendor.hostConfig("b"), server.url, features).use { b ->
                    assertFalse(a.hasFeature("mqtt-server"))
                    assertEquals(0uL, a.leaseId())
                    a.checkout()
                    val lease = a.leaseId()
                    assertNotEquals(0uL, lease)
                    assertTrue(a.hasFeature("mqtt-server"))
                    assertFalse(a.hasFeature("support"))

                    // The only seat is taken: the server's own code, 340.
                    val e = assertThrows<TollgateException.Service> { b.checkout() }
                    assertEquals(340u, e.code)
                    assertEquals("NoSeat", e.name)
                    assertFalse(b.hasFeature("mqtt-server"))

                    a.release()
                    assertFalse(a.hasFeature("mqtt-server"))
                    assertEquals(0uL, a.leaseId())
                    b.checkout()
                    assertTrue(b.hasFeature("mqtt-server"))
                }
                // Closing b (`use`) gave its seat back.
                a.checkout()
                assertTrue(a.hasFeature("mqtt-server"))
            }
            FloatingClient(vendor.hostConfig("d"), deadUrl(), features).use { d ->
                val e = assertThrows<TollgateException.Service> { d.checkout() }
                assertEquals(230u, e.code)
                assertEquals(0uL, d.leaseId())
            }
        } finally {
            server.stop()
        }
    }

    /**
     * A service that accepts and never answers: the manager answers while the activation
     * waits (no lock held), `cancel()` ends the call with 240 and the host is as before.
     */
    @Test
    fun cancelEndsACallWhileTheManagerAnswers() {
        val vendor = Vendor(tmp.resolve("v"))
        val key = vendor.issue("--feature", "mqtt-server", "--models", "online")
        val pool = Executors.newSingleThreadExecutor()
        ServerSocket(0, 1, InetAddress.getLoopbackAddress()).use { silent ->
            silent.soTimeout = 60_000
            // One try, a timeout far beyond the test's bound: only cancelling ends the call.
            val online = OnlineClient(
                "http://127.0.0.1:${silent.localPort}",
                OnlineOptions(attempts = 1u, timeoutMs = 600_000u),
            )
            LicenseManager.open(vendor.hostConfig("a"), tmp.resolve("host-a").toString()).use { m ->
                val call = pool.submit<Status> { online.activate(m, key) }
                silent.accept().use {
                    assertEquals(LicenseState.PENDING, m.status().state)
                    assertFalse(m.hasFeature("mqtt-server"))
                    assertFalse(call.isDone)
                    online.cancel()
                    val e = assertThrows<java.util.concurrent.ExecutionException> {
                        call.get(60, TimeUnit.SECONDS)
                    }.cause as TollgateException.Runtime
                    assertEquals(240u, e.code)
                    assertEquals("Cancelled", e.name)
                }
                val after = m.status()
                assertEquals(LicenseState.UNLICENSED, after.state)
                assertFalse(after.pendingRequest)
            }
            online.close()
        }
        pool.shutdownNow()
    }
}
