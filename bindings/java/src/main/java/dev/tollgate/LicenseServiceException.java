package dev.tollgate;

/**
 * The vendor's online licensing service could not be used: unreachable (230), refused (231),
 * unavailable (232), rate limited (233), or an unexpected answer (234). Thrown by the online
 * methods of {@link LicenseManager} ({@code activateOnline}, {@code reactivateOnline},
 * {@code deactivateOnline}, {@code sendDeactivation}); 230, 232 and 233 after the retries.
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
