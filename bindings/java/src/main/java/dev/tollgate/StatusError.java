package dev.tollgate;

/**
 * Why the license is not active ({@link Status#error()}).
 *
 * @param code the stable result code (see {@link ErrorCode})
 * @param name the code's stable name
 * @param message the full message
 */
public record StatusError(int code, String name, String message) {}
