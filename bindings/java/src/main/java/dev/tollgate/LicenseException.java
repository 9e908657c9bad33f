package dev.tollgate;

/**
 * A licensing operation failed. Carries the stable result code shared by every Tollgate binding
 * (the C API, the CLI's {@code --json} errors, Python): core codes 100–199, host runtime codes
 * 200–217, 230–241 and 255–256; a code never changes meaning. See {@link ErrorCode} for the table
 * and constants.
 *
 * <p>The subclass tells the family:
 * <ul>
 *   <li>{@link InvalidArtifactException} (100–199): an artifact or license key was rejected
 *       (malformed, tampered, wrong product or machine, expired);</li>
 *   <li>{@link LicenseStateException} (200–205, 208, 209, 212, 214, 215, 239, 255, 256): this
 *       host's license state refuses the operation (nothing installed, superseded request,
 *       deactivated, clock set back, quota exceeded, a floating server's usage license, a full
 *       usage outbox, …);</li>
 *   <li>{@link StateStorageException} (206, 207, 213, 217): the state directory cannot be read,
 *       written or locked;</li>
 *   <li>{@link LicenseServiceException} (230–234, 240–241, and 300–399): the vendor's online licensing
 *       service or a floating license server could not be used, or refused with its own code
 *       (e.g. 303 seats exhausted, 340 no floating seat; {@code SERVICE_…} in {@link ErrorCode});</li>
 *   <li>{@code LicenseException} itself for the rest (210 fingerprint, 211 invalid argument,
 *       216 entropy, 235–238 configuration refused by the trust and host policy) and for codes
 *       this version does not know.</li>
 * </ul>
 *
 * <p>Messages never contain license keys, key material or raw hardware identifiers.
 */
public class LicenseException extends Exception {
    private static final long serialVersionUID = 1L;

    private final int code;
    private final String errorName;

    /**
     * @param code the stable result code
     * @param errorName the code's stable name, e.g. {@code SupersededRequest}
     * @param message the full message
     */
    public LicenseException(int code, String errorName, String message) {
        super(message);
        this.code = code;
        this.errorName = errorName;
    }

    /** The stable result code, e.g. {@link ErrorCode#SUPERSEDED_REQUEST}. */
    public int code() {
        return code;
    }

    /** The code's stable name, e.g. {@code "SupersededRequest"} (the Rust variant's name). */
    public String errorName() {
        return errorName;
    }

    /**
     * The exception of the right family for {@code code}: what the native library throws.
     *
     * @param code the stable result code
     * @param errorName the code's stable name
     * @param message the full message
     * @return an exception of the class listed above for the code
     */
    public static LicenseException of(int code, String errorName, String message) {
        return of(code, errorName, message, 0);
    }

    /**
     * {@link #of(int, String, String)} carrying the service's own code for a
     * {@link LicenseServiceException} ({@link LicenseServiceException#refusalCode()}).
     *
     * @param code the stable result code
     * @param errorName the code's stable name
     * @param message the full message
     * @param refusalCode the service's own code, or 0
     * @return an exception of the class listed above for the code
     */
    public static LicenseException of(int code, String errorName, String message,
            int refusalCode) {
        if (code >= 100 && code <= 199) {
            return new InvalidArtifactException(code, errorName, message);
        }
        if ((code >= 230 && code <= 234) || code == 240 || code == 241
                || (code >= 260 && code <= 261) || (code >= 300 && code <= 399)) {
            return new LicenseServiceException(code, errorName, message, refusalCode);
        }
        switch (code) {
            case ErrorCode.NOT_ACTIVATED:
            case ErrorCode.NO_PENDING_REQUEST:
            case ErrorCode.SUPERSEDED_REQUEST:
            case ErrorCode.WRONG_DEVICE:
            case ErrorCode.DEACTIVATED:
            case ErrorCode.CLOCK_ROLLBACK:
            case ErrorCode.QUOTA_EXCEEDED:
            case ErrorCode.UNKNOWN_FEATURE:
            case ErrorCode.ALREADY_ACTIVATED:
            case ErrorCode.NOT_METERED:
            case ErrorCode.UNKNOWN_REQUEST:
            case ErrorCode.WRONG_MODEL:
            case ErrorCode.USAGE_OUTBOX_FULL:
            case ErrorCode.USAGE_ACK_AHEAD:
                return new LicenseStateException(code, errorName, message);
            case ErrorCode.STORAGE:
            case ErrorCode.CORRUPT_STATE:
            case ErrorCode.STATE_LOCKED:
            case ErrorCode.UNSUPPORTED_STATE_VERSION:
                return new StateStorageException(code, errorName, message);
            default:
                return new LicenseException(code, errorName, message);
        }
    }

    @Override
    public String toString() {
        return getClass().getName() + ": [" + code + " " + errorName + "] " + getMessage();
    }
}
