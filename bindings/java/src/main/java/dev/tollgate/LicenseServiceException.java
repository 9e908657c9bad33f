package dev.tollgate;

/**
 * The vendor's online licensing service could not be used: unreachable (230), refused (231),
 * unavailable (232), rate limited (233), or an unexpected answer (234). Codes of the runtime's
 * online activation client; the Java binding does not drive it yet, but the code family is
 * reserved here so that a newer native library maps them consistently.
 */
public class LicenseServiceException extends LicenseException {
    private static final long serialVersionUID = 1L;

    /**
     * @param code the stable result code
     * @param errorName the code's stable name
     * @param message the full message
     */
    public LicenseServiceException(int code, String errorName, String message) {
        super(code, errorName, message);
    }
}
