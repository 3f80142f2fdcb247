package io.jmesh.core.config;

/** Port validation shared by config records. */
public final class Ports {
    private Ports() {}

    /** @throws IllegalArgumentException naming {@code field} unless 0 ≤ port ≤ 65535 */
    public static int check(String field, int port) {
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException(field + ": " + port + " (expected: 0..65535)");
        }
        return port;
    }
}
