package dev.tollgate;

/**
 * The vendor's online licensing service or a floating license server could not be used:
 * unreachable (230), unavailable (232), rate limited (233), or an unexpected answer (234); or it
 * refused, and then {@link #code()} is the service's own stable code: 300–331 from the
 * activation service (e.g. {@link ErrorCode#SERVICE_SEATS_EXHAUSTED}, 303), 340–347 from a
 * floating server (e.g. {@link ErrorCode#SERVICE_NO_SEAT}, 340), and 231 for a refusal with a
 * code this version does not know (the code is then in the message). Thrown by the online
 * methods of {@link LicenseManager} ({@code activateOnline}, {@code reactivateOnline},
 * {@code deactivateOnline}, {@code sendDeactivation}) and by {@link FloatingClient}; 230, 232
 * and 233 after the retries.
 */
public class LicenseServiceException extends LicenseException {
    private static final long serialVersionUID = 1L;

    private final int refusalCode;

    /**
     * @param code the stable result code
     * @param errorName the code's stable name
     * @param message the full message
     */
    public LicenseServiceException(int code, String errorName, String message) {
        this(code, errorName, message, 0);
    }

    /**
     * @param code the stable result code
     * @param errorName the code's stable name
     * @param message the full message
     * @param refusalCode the service's own code, or 0
     */
    public LicenseServiceException(int code, String errorName, String message, int refusalCode) {
        super(code, errorName, message);
        this.refusalCode = refusalCode;
    }

    /**
     * The service's own stable code when the activation service or a floating server refused
     * (e.g. 303 seats exhausted, 340 no floating seat), also for a code this version does not
     * know ({@link #code()} is then 231), or answered with a coded error (e.g. 344 from a
     * floating server without a license); 0 when the service did not answer with a code
     * (unreachable, cancelled, …).
     *
     * @return the service's code, or 0
     */
    public int refusalCode() {
        return refusalCode;
    }
}
