package io.jmesh.core.config;

import java.time.Duration;
import java.time.format.DateTimeParseException;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Parses durations the way operators write them in YAML: {@code 500ms}, {@code 10s}, {@code 5m}, {@code 24h},
 * {@code 90d}, or ISO-8601 ({@code PT10S}). Anything else, or longer than {@link Duration} holds, is an
 * {@link IllegalArgumentException}.
 */
public final class Durations {

    private static final Pattern SIMPLE = Pattern.compile("(\\d+)\\s*(ms|s|m|h|d)");

    private Durations() {}

    public static Duration parse(String text) {
        String t = text.trim();
        Matcher m = SIMPLE.matcher(t);
        if (m.matches()) {
            try {
                long n = Long.parseLong(m.group(1));
                return switch (m.group(2)) {
                    case "ms" -> Duration.ofMillis(n);
                    case "s" -> Duration.ofSeconds(n);
                    case "m" -> Duration.ofMinutes(n);
                    case "h" -> Duration.ofHours(n);
                    default -> Duration.ofDays(n);
                };
            } catch (NumberFormatException | ArithmeticException e) {
                throw new IllegalArgumentException("duration: '" + text + "' is too long (expected: at most "
                        + Long.MAX_VALUE + "s)");
            }
        }
        try {
            return Duration.parse(t);
        } catch (DateTimeParseException e) {
            throw new IllegalArgumentException("duration: '" + text + "' (expected: e.g. 500ms, 10s, 5m, 24h, 90d)");
        }
    }

    /**
     * The shortest exact form, inverse of {@link #parse}, for every {@link Duration}: whole days, hours, minutes,
     * seconds or milliseconds when one of them is exact, else (a negative duration, a fraction of a millisecond, or
     * milliseconds beyond a long) ISO-8601 such as {@code PT-5S} or {@code PT0.0005S}. Counted in seconds, so no
     * length overflows (a duration holds up to 2^63 seconds; {@code toMillis()} overflows past ~292 million years).
     */
    public static String format(Duration d) {
        long s = d.getSeconds();
        int nanos = d.getNano();
        if (d.isNegative() || nanos % 1_000_000 != 0) {
            return d.toString();
        }
        if (nanos != 0) {
            long ms = nanos / 1_000_000;
            boolean fits = s < Long.MAX_VALUE / 1000 || s == Long.MAX_VALUE / 1000 && ms <= Long.MAX_VALUE % 1000;
            return fits ? s * 1000 + ms + "ms" : d.toString();
        }
        if (s % 86_400 == 0 && s != 0) {
            return s / 86_400 + "d";
        }
        if (s % 3_600 == 0 && s != 0) {
            return s / 3_600 + "h";
        }
        if (s % 60 == 0 && s != 0) {
            return s / 60 + "m";
        }
        return s + "s";
    }
}
