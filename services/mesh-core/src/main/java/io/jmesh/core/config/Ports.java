package io.jmesh.core.config;

/**
 * Port validation shared by config records, and ports written in untrusted text (an HBONE {@code :authority}, a
 * DNS upstream, a local-mode file): plain ASCII digits and nothing else. {@link Integer#parseInt} is no gate for
 * this: it takes a sign ("+80", "-0") and the digits of every script ("٨٠" is 80).
 */
public final class Ports {
    private Ports() {}

    /** @throws IllegalArgumentException naming {@code field} unless 0 ≤ port ≤ 65535 */
    public static int check(String field, int port) {
        if (port < 0 || port > 65_535) {
            throw new IllegalArgumentException(field + ": " + port + " (expected: 0..65535)");
        }
        return port;
    }

    /**
     * The port {@code text} writes in plain ASCII digits (leading zeros allowed, no sign, space or other character).
     *
     * @throws IllegalArgumentException naming {@code field} unless it is such a port in 0..65535
     */
    public static int parse(String field, CharSequence text) {
        int port = parseOrNegative(text);
        if (port < 0) {
            throw new IllegalArgumentException(field + ": '" + text + "' (expected: a port number 0..65535 in digits)");
        }
        return port;
    }

    /** Like {@link #parse}, but -1 instead of an exception (for callers with their own message). */
    public static int parseOrNegative(CharSequence text) {
        if (!isDigits(text)) {
            return -1;
        }
        int value = 0;
        for (int i = 0; i < text.length(); i++) {
            value = value * 10 + (text.charAt(i) - '0');
            if (value > 65_535) {
                return -1; // stops before any overflow, however many digits follow
            }
        }
        return value;
    }

    /** Whether {@code text} is one or more ASCII digits and nothing else: the only way to write a number here. */
    public static boolean isDigits(CharSequence text) {
        if (text == null || text.length() == 0) {
            return false;
        }
        for (int i = 0; i < text.length(); i++) {
            char c = text.charAt(i);
            if (c < '0' || c > '9') {
                return false;
            }
        }
        return true;
    }
}
