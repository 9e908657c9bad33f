package dev.tollgate;

import java.time.Duration;
import java.util.Objects;

/**
 * How a {@link FloatingClient} times out and retries. A checkout, heartbeat or release is one
 * try of at most {@link #timeout()}; a failed heartbeat (and the checkout after a lost lease)
 * is retried on the background thread after {@link #retryInitial()}, doubled each time up to
 * {@link #retryMax()}.
 *
 * <p>The defaults ({@link #defaults()}): connect timeout 2 s, 5 s per request, 1 s before the
 * first background retry, at most 30 s between two. A {@link FloatingClient#checkout()} in
 * flight also ends at once, with 240 {@code CANCELLED}, when the client is closed.
 *
 * @param connectTimeout longest wait for a connection (at least 1 ms)
 * @param timeout longest wait for one request, from connecting to the end of the answer (at
 *     least 1 ms)
 * @param retryInitial wait before the first background retry; doubled for each next one (not
 *     negative)
 * @param retryMax longest wait between two background tries (not negative)
 */
public record FloatingOptions(Duration connectTimeout, Duration timeout, Duration retryInitial,
        Duration retryMax) {

    /**
     * Checks the options.
     *
     * @throws IllegalArgumentException for a timeout under 1 ms or a negative pause
     */
    public FloatingOptions {
        Objects.requireNonNull(connectTimeout, "connectTimeout");
        Objects.requireNonNull(timeout, "timeout");
        Objects.requireNonNull(retryInitial, "retryInitial");
        Objects.requireNonNull(retryMax, "retryMax");
        if (connectTimeout.toMillis() < 1 || timeout.toMillis() < 1) {
            throw new IllegalArgumentException("timeouts must be at least 1 ms");
        }
        if (retryInitial.isNegative() || retryMax.isNegative()) {
            throw new IllegalArgumentException("retry pauses must not be negative");
        }
    }

    /**
     * The defaults (see the class comment).
     *
     * @return the default options
     */
    public static FloatingOptions defaults() {
        return new FloatingOptions(Duration.ofSeconds(2), Duration.ofSeconds(5),
                Duration.ofSeconds(1), Duration.ofSeconds(30));
    }

    /**
     * These options with another per-request timeout.
     *
     * @param perRequest the longest wait for one request
     * @return the new options
     */
    public FloatingOptions withTimeout(Duration perRequest) {
        return new FloatingOptions(connectTimeout, perRequest, retryInitial, retryMax);
    }

    /**
     * These options with another connect timeout.
     *
     * @param connect the longest wait for a connection
     * @return the new options
     */
    public FloatingOptions withConnectTimeout(Duration connect) {
        return new FloatingOptions(connect, timeout, retryInitial, retryMax);
    }

    /**
     * These options with other background retry pauses.
     *
     * @param first wait before the first retry
     * @param max longest wait between two tries
     * @return the new options
     */
    public FloatingOptions withRetry(Duration first, Duration max) {
        return new FloatingOptions(connectTimeout, timeout, first, max);
    }
}
