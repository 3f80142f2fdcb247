package io.jmesh.core.config;

/**
 * Where a service serves {@code /metrics} and {@code /healthz/ready}.
 *
 * @param host address to bind; {@code 127.0.0.1} keeps it local, {@code 0.0.0.0} lets Prometheus scrape it
 * @param port TCP port, 0 for an ephemeral one (tests)
 * @param maxConcurrentScrapes scrapes of {@code /metrics} served at once, each holding one metric family's snapshot;
 *     more are answered 503 with {@code Retry-After}. 0 (absent) means {@value #DEFAULT_MAX_CONCURRENT_SCRAPES}
 */
public record AdminConfig(String host, int port, int maxConcurrentScrapes) {

    /** Two Prometheus servers of an HA pair scrape each target about at once. */
    public static final int DEFAULT_MAX_CONCURRENT_SCRAPES = 2;
    static final int MAX_CONCURRENT_SCRAPES_LIMIT = 64;

    public AdminConfig {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("host: '" + host + "' (expected: an address to bind)");
        }
        Ports.check("port", port);
        if (maxConcurrentScrapes == 0) {
            maxConcurrentScrapes = DEFAULT_MAX_CONCURRENT_SCRAPES;
        }
        if (maxConcurrentScrapes < 1 || maxConcurrentScrapes > MAX_CONCURRENT_SCRAPES_LIMIT) {
            throw new IllegalArgumentException("maxConcurrentScrapes: " + maxConcurrentScrapes + " (expected: 1 to "
                    + MAX_CONCURRENT_SCRAPES_LIMIT + ")");
        }
    }

    /** With the default limit of concurrent scrapes. */
    public AdminConfig(String host, int port) {
        this(host, port, 0);
    }
}
