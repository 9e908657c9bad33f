package dev.tollgate;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@link LicenseManager#hasFeature(String)} (one JNI call) and {@link FeatureHandle#isEnabled()}
 * (no JNI call) on an activated manager: the check a host makes on every connection or message.
 * Target for the handle: at most 10 ns per call.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.NANOSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class HasFeatureBenchmark {
    @Param({"SYSTEM", "CACHED"})
    public ClockSource clock;

    private LicenseManager manager;
    private FeatureHandle mqtt;
    private FeatureHandle snowflake;

    @Setup(Level.Trial)
    public void activate() throws Exception {
        Path dir = Files.createTempDirectory("tollgate-jmh");
        Vendor vendor = new Vendor(dir);
        Vendor.Issued issued = vendor.issue(1, "mqtt-server", "support:for=1y");
        manager = LicenseManager.open(dir.resolve("state"), vendor.hostConfig("bench"), clock);
        manager.install(vendor.fulfil(manager.requestUsage(issued.key())));
        mqtt = manager.feature("mqtt-server");
        snowflake = manager.feature("iot-bridge-snowflake");
        if (!manager.hasFeature("mqtt-server") || !mqtt.isEnabled() || snowflake.isEnabled()) {
            throw new IllegalStateException("not activated");
        }
    }

    @TearDown(Level.Trial)
    public void close() {
        manager.close();
    }

    /** A licensed feature: the common case. */
    @Benchmark
    public boolean licensedFeature() {
        return manager.hasFeature("mqtt-server");
    }

    /** A feature the license does not have. */
    @Benchmark
    public boolean unknownFeature() {
        return manager.hasFeature("iot-bridge-snowflake");
    }

    /** The handle of a licensed feature: the hot path without JNI. */
    @Benchmark
    public boolean handleLicensedFeature() {
        return mqtt.isEnabled();
    }

    /** The handle of a feature the license does not have. */
    @Benchmark
    public boolean handleUnknownFeature() {
        return snowflake.isEnabled();
    }
}
