package io.jmesh.core.config;

/**
 * Where a service serves {@code /metrics} and {@code /healthz/ready}.
 *
 * @param host address to bind; {@code 127.0.0.1} keeps it local, {@code 0.0.0.0} lets Prometheus scrape it
 * @param port TCP port, 0 for an ephemeral one (tests)
 */
public record AdminConfig(String host, int port) {
    public AdminConfig {
        if (host == null || host.isBlank()) {
            throw new IllegalArgumentException("host: '" + host + "' (expected: an address to bind)");
        }
        Ports.check("port", port);
    }
}
