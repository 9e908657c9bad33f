package dev.tollgate;

/** The license state directory failed: I/O (206), corrupt document (207), locked by another process or manager (213), written by a newer version (217). The state on disk is left untouched. */
public class StateStorageException extends LicenseException {
    private static final long serialVersionUID = 1L;

    /**
     * @param code the stable result code
     * @param errorName the code's stable name
     * @param message the full message
     */
    public StateStorageException(int code, String errorName, String message) {
        super(code, errorName, message);
    }
}
