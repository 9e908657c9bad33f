package dev.tollgate;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.Warmup;

/**
 * {@link LicenseManager#verify}: the whole verification path of the reference usage license
 * (tests/vectors/usage_license_offline.txt) from Java: dearmor, decode, ed25519
 * {@code verify_strict}, product, fingerprint (five components derived with HKDF) and time,
 * plus building the {@link LicenseInfo}.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(1)
public class VerifyBenchmark {
    private HostConfig config;
    private String usageLicense;
    private Instant now;

    @Setup
    public void load() throws IOException {
        Path dir = Path.of(System.getProperty("tollgate.vectors", "../../tests/vectors"));
        usageLicense = Files.readString(dir.resolve("usage_license_offline.txt"),
                StandardCharsets.UTF_8);
        config = VectorsTest.configFor(Vectors.named("usage_license_offline"));
        now = Instant.ofEpochSecond(Vectors.named("usage_license_offline")
                .getAsJsonObject("inputs").get("now").getAsLong());
    }

    @Benchmark
    public LicenseInfo verifyUsageLicense() throws LicenseException {
        return LicenseManager.verify(config, usageLicense, now);
    }
}
