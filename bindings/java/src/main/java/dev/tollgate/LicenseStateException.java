package dev.tollgate;

/** This host's license state refuses the operation: nothing installed (200), no pending request (201), superseded (202), another installation's request (203), deactivated (204), clock set back (205), quota exceeded (208), unknown feature (209), already activated for another key (212), not metered (214), unknown request (215). */
public class LicenseStateException extends LicenseException {
    private static final long serialVersionUID = 1L;

    /**
     * @param code the stable result code
     * @param errorName the code's stable name
     * @param message the full message
     */
    public LicenseStateException(int code, String errorName, String message) {
        super(code, errorName, message);
    }
}
