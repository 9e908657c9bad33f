package dev.tollgate;

import java.io.IOException;
import java.nio.file.Path;

/** {@link Vendor} for tests outside this package (the example host's). */
public final class VendorAccess {
    private final Vendor vendor;

    /**
     * A vendor in {@code dir}.
     *
     * @param dir a fresh directory
     * @throws IOException when the CLI fails
     */
    public VendorAccess(Path dir) throws IOException {
        this.vendor = new Vendor(dir);
    }

    /**
     * The configuration of a simulated machine.
     *
     * @param machine its name
     * @return the configuration
     * @throws IOException when the file cannot be read
     * @throws LicenseException when it is not a host configuration
     */
    public HostConfig hostConfig(String machine) throws IOException, LicenseException {
        return vendor.hostConfig(machine);
    }

    /**
     * Issues a license.
     *
     * @param activations seats
     * @param features feature specifications
     * @return the license key
     * @throws IOException when the CLI fails
     */
    public String issue(int activations, String... features) throws IOException {
        return vendor.issue(activations, features).key();
    }

    /**
     * Answers a usage request.
     *
     * @param request the request
     * @return the usage license
     * @throws IOException when the CLI fails
     */
    public String fulfil(String request) throws IOException {
        return vendor.fulfil(request);
    }

    /**
     * Verifies a deactivation code and frees its seat.
     *
     * @param code the code
     * @return whether the seat was freed
     * @throws IOException when the CLI fails
     */
    public boolean deactivate(String code) throws IOException {
        return vendor.deactivate(code).get("freed").getAsBoolean();
    }
}
