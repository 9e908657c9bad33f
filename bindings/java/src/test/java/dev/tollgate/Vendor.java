package dev.tollgate;

import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * The vendor's side in tests: the {@code tollgate vendor …} CLI (system property
 * {@code tollgate.cli}, built by {@code cargo build -p tollgate-cli}) on a vendor directory, plus
 * the host configuration it writes. Every call uses {@code --json}. The vendor holds the
 * published development root ({@code tests/fixtures/dev-root.seed}), whose public key is
 * {@link VendorRoot#key()}, the class the tests are built with (as a product is built with its
 * vendor's {@code VendorRoot}).
 */
final class Vendor {
    static final String PRODUCT = "chariot";
    static final String SALT = "chariot/fingerprint/java-tests";

    final Path dir;
    final Path hostConfigFile;

    /** A vendor with the development root, its ledger and first signing key in {@code dir}. */
    Vendor(Path dir) throws IOException {
        this(dir, false);
    }

    /**
     * A vendor in {@code dir}: with the development root, or ({@code ownRoot}) with a fresh
     * root of its own, as a customer who runs {@code tollgate vendor init} would have.
     */
    Vendor(Path dir, boolean ownRoot) throws IOException {
        this.dir = Files.createDirectories(dir);
        this.hostConfigFile = dir.resolve("host-config.json");
        if (ownRoot) {
            run("init");
        } else {
            run("init", "--import-root", System.getProperty("tollgate.devRootSeed",
                    "../../tests/fixtures/dev-root.seed"));
        }
        run("host-config", "--product", PRODUCT, "--product-version", "4.2.0", "--salt", SALT,
                "--out", hostConfigFile.toString());
    }

    /** The CLI binary. */
    static Path cli() {
        Path cli = Path.of(System.getProperty("tollgate.cli", "../../target/debug/tollgate"));
        if (!Files.isExecutable(cli)) {
            throw new IllegalStateException("the tollgate CLI is not at " + cli.toAbsolutePath()
                    + ": run `cargo build -p tollgate-cli` or set -Dtollgate.cli");
        }
        return cli;
    }

    /**
     * The host configuration for a simulated machine: the compiled-in root, no probes, five
     * fixed components (kinds the probes read, so the override is allowed: this is a test).
     */
    HostConfig hostConfig(String machine) throws IOException, LicenseException {
        return HostConfig.fromFile(hostConfigFile, VendorRoot.key()).toBuilder().noProbes()
                .allowOverride(true)
                .component(ComponentKind.MACHINE_ID, "machine-id-" + machine)
                .component(ComponentKind.DMI_PRODUCT_UUID, "uuid-" + machine)
                .component(ComponentKind.MAC, "02:42:ac:11:00:" + Math.floorMod(machine.hashCode(), 100))
                .component(ComponentKind.ROOT_DISK, "disk-" + machine)
                .component(ComponentKind.HOSTNAME, machine + ".plant.local")
                .build();
    }

    /** A license issued with {@code vendor issue}. */
    record Issued(long licenseId, String key) {}

    /**
     * Issues a license for {@link #PRODUCT}.
     *
     * @param activations seats
     * @param features {@code --feature} values (NAME, NAME:until=DATE, NAME:QUOTA/month, …), or
     *     other options as {@code --option=value}
     */
    Issued issue(int activations, String... features) throws IOException {
        List<String> args = new ArrayList<>(List.of("issue", "--product", PRODUCT, "--customer",
                "ACME Industrial", "--activations", Integer.toString(activations)));
        for (String f : features) {
            if (f.startsWith("--")) { // another option, e.g. "--models=floating"
                args.add(f);
                continue;
            }
            args.add("--feature");
            args.add(f);
        }
        JsonObject out = run(args.toArray(new String[0]));
        return new Issued(out.get("license_id").getAsLong(), out.get("key").getAsString());
    }

    /** Answers a usage request; returns the usage license. */
    String fulfil(String request) throws IOException {
        return run("fulfil", request).get("usage_license").getAsString();
    }

    /** Answers a usage request for the deployment model {@code model}. */
    String fulfil(String request, String model) throws IOException {
        return run("fulfil", "--model", model, request).get("usage_license").getAsString();
    }

    /** Verifies a deactivation code and frees its seat. */
    JsonObject deactivate(String code) throws IOException {
        return run("deactivate", code);
    }

    /** Runs {@code tollgate --json vendor --dir DIR ARGS}; fails on a non-zero exit. */
    JsonObject run(String... args) throws IOException {
        Result r = tryRun(args);
        if (r.exit != 0) {
            throw new IOException("tollgate vendor " + String.join(" ", args) + " exited "
                    + r.exit + ": " + r.stderr);
        }
        return JsonParser.parseString(r.stdout).getAsJsonObject();
    }

    /** The outcome of a CLI run. */
    record Result(int exit, String stdout, String stderr) {}

    /** Runs {@code tollgate --json vendor --dir DIR ARGS}. */
    Result tryRun(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(cli().toString(), "--json", "vendor", "--dir",
                dir.resolve("vendor").toString()));
        cmd.addAll(List.of(args));
        ProcessBuilder pb = new ProcessBuilder(cmd);
        Path out = Files.createTempFile(dir, "cli", ".out");
        Path err = Files.createTempFile(dir, "cli", ".err");
        pb.redirectOutput(out.toFile()).redirectError(err.toFile());
        Process p = pb.start();
        try {
            if (!p.waitFor(60, TimeUnit.SECONDS)) {
                p.destroyForcibly();
                throw new IOException("tollgate timed out");
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException(e);
        }
        return new Result(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8),
                Files.readString(err, StandardCharsets.UTF_8));
    }
}
