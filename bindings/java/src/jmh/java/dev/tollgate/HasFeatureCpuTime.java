package dev.tollgate;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * {@link LicenseManager#hasFeature(String)} and {@link FeatureHandle#isEnabled()} in CPU
 * nanoseconds per call: the JMH figures are
 * wall-clock time, which on a shared machine includes waiting for a core. This measures the
 * calling thread's CPU time over many calls after a warm-up (run it from the {@code bench}
 * profile: {@code mvn -B -Pbench test-compile exec:exec -Djmh.main=dev.tollgate.HasFeatureCpuTime}).
 */
public final class HasFeatureCpuTime {
    private HasFeatureCpuTime() {}

    /**
     * @param args ignored
     * @throws Exception when the setup fails
     */
    public static void main(String[] args) throws Exception {
        Path dir = Files.createTempDirectory("tollgate-cpu");
        Vendor vendor = new Vendor(dir);
        Vendor.Issued issued = vendor.issue(2, "mqtt-server", "support:for=1y");
        ThreadMXBean threads = ManagementFactory.getThreadMXBean();
        for (ClockSource clock : ClockSource.values()) {
            try (LicenseManager m = LicenseManager.open(dir.resolve("state-" + clock),
                    vendor.hostConfig("bench"), clock)) {
                m.install(vendor.fulfil(m.requestUsage(issued.key())));
                FeatureHandle mqtt = m.feature("mqtt-server");
                long sink = 0;
                for (int i = 0; i < 20_000_000; i++) {
                    sink += m.hasFeature("mqtt-server") ? 1 : 0;
                    sink += mqtt.isEnabled() ? 1 : 0;
                }
                for (int round = 0; round < 3; round++) {
                    int n = 20_000_000;
                    long cpu0 = threads.getCurrentThreadCpuTime();
                    long wall0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        sink += m.hasFeature("mqtt-server") ? 1 : 0;
                    }
                    long cpu = threads.getCurrentThreadCpuTime() - cpu0;
                    long wall = System.nanoTime() - wall0;
                    System.out.printf("hasFeature clock=%s: %.1f ns CPU/call, %.1f ns wall/call%n",
                            clock, (double) cpu / n, (double) wall / n);
                    n = 200_000_000;
                    cpu0 = threads.getCurrentThreadCpuTime();
                    wall0 = System.nanoTime();
                    for (int i = 0; i < n; i++) {
                        sink += mqtt.isEnabled() ? 1 : 0;
                    }
                    cpu = threads.getCurrentThreadCpuTime() - cpu0;
                    wall = System.nanoTime() - wall0;
                    System.out.printf("FeatureHandle.isEnabled clock=%s: %.2f ns CPU/call,"
                            + " %.2f ns wall/call%n", clock, (double) cpu / n, (double) wall / n);
                }
                if (sink == 0) {
                    throw new AssertionError();
                }
            }
        }
    }
}
