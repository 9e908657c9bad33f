package dev.tollgate;

/**
 * Told when a {@link LicenseManager}'s license state changes (see {@link LicenseWatch}).
 *
 * <p>Called on the watch's own native thread ({@code tollgate-events}, attached to the JVM
 * for the length of each call, so a watch never keeps the JVM from exiting), one event at a time, in order, with no lock of the manager held: the
 * listener may call the manager (its status, {@code hasFeature}, even {@code close()} and
 * {@link LicenseWatch#close()}). Keep it short: the next event waits for it. An exception it
 * throws is caught and dropped (it never reaches the native library or the JVM's thread), and
 * the watch goes on.
 */
@FunctionalInterface
public interface LicenseListener {
    /**
     * One change.
     *
     * @param event what changed
     */
    void onEvent(LicenseEvent event);
}
