package dev.tollgate;

/** An artifact (usage license, license key, vendor key) was rejected: codes 100–199 (malformed, tampered, signed by an unknown key, for another product or machine, not valid at this time). */
public class InvalidArtifactException extends LicenseException {
    private static final long serialVersionUID = 1L;

    /**
     * @param code the stable result code
     * @param errorName the code's stable name
     * @param message the full message
     */
    public InvalidArtifactException(int code, String errorName, String message) {
        super(code, errorName, message);
    }
}
