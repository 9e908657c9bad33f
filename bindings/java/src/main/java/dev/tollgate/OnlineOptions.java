package dev.tollgate;

import java.time.Duration;
import java.util.Objects;

/**
 * How an {@link OnlineClient} times out and retries. Transient failures (the service cannot be
 * reached, HTTP 5xx, 429) are retried with exponential backoff; a refusal never is.
 *
 * <p>The defaults ({@link #defaults()}): connect timeout 5 s, 20 s per try, 4 tries, 250 ms
 * before the first retry, doubled for each next one, at most 10 s between two tries (also the
 * cap of a service's {@code Retry-After}). With the defaults, a service that accepts
 * connections but never answers makes a call fail after about 4 × 20 s + 1.75 s; a broker that
 * must stop within a deadline sets a shorter {@link #timeout()} or fewer {@link #attempts()},
 * or cancels ({@link OnlineClient#cancel()}, {@link LicenseManager#close()}).
 *
 * @param connectTimeout longest wait for a connection (at least 1 ms)
 * @param timeout longest wait for one try, from connecting to the end of the answer (at least
 *     1 ms)
 * @param attempts tries per call, the first included (at least 1)
 * @param backoff wait before the first retry; doubled for each next one (not negative)
 * @param maxBackoff longest wait between two tries (not negative)
 */
public record OnlineOptions(Duration connectTimeout, Duration timeout, int attempts,
        Duration backoff, Duration maxBackoff) {

    /**
     * Checks the options.
     *
     * @throws IllegalArgumentException for a timeout under 1 ms, fewer than 1 attempt, or a
     *     negative pause
     */
    public OnlineOptions {
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(timeout, "timeout");
        Objects.requireNonNull(backoff, "backoff");
        Objects.requireNonNull(maxBackoff, "maxBackoff");
        if (connectTimeout.toMillis() < 1 || timeout.toMillis() < 1) {
            throw new IllegalArgumentException("timeouts must be at least 1 ms");
        }
        if (attempts < 1) {
            throw new IllegalArgumentException("attempts must be at least 1");
        }
        if (backoff.isNegative() || maxBackoff.isNegative()) {
            throw new IllegalArgumentException("backoff must not be negative");
        }
    }

    /**
     * The defaults (see the class comment).
     *
     * @return the default options
     */
    public static OnlineOptions defaults() {
        return new OnlineOptions(Duration.ofSeconds(5), Duration.ofSeconds(20), 4,
                Duration.ofMillis(250), Duration.ofSeconds(10));
    }

    /**
     * These options with another per-try timeout.
     *
     * @param perTry the longest wait for one try
     * @return the new options
     */
    public OnlineOptions withTimeout(Duration perTry) {
        return new OnlineOptions(connectTimeout, perTry, attempts, backoff, maxBackoff);
    }

    /**
     * These options with another number of tries.
     *
     * @param tries tries per call, the first included
     * @return the new options
     */
    public OnlineOptions withAttempts(int tries) {
        return new OnlineOptions(connectTimeout, timeout, tries, backoff, maxBackoff);
    }

    /**
     * These options with another backoff.
     *
     * @param first wait before the first retry
     * @param max longest wait between two tries
     * @return the new options
     */
    public OnlineOptions withBackoff(Duration first, Duration max) {
        return new OnlineOptions(connectTimeout, timeout, attempts, first, max);
    }

    /**
     * These options with another connect timeout.
     *
     * @param connect the longest wait for a connection
     * @return the new options
     */
    public OnlineOptions withConnectTimeout(Duration connect) {
        return new OnlineOptions(connect, timeout, attempts, backoff, maxBackoff);
    }
}
