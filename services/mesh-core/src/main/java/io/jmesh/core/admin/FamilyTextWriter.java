package io.jmesh.core.admin;

import java.io.IOException;
import java.io.OutputStream;

/**
 * Writes one metric family's text series by series, byte for byte as Prometheus client_java's text writers write
 * the same family from its snapshot (Prometheus text 0.0.4 or OpenMetrics 1.0): counters and classic histograms,
 * without timestamps, exemplars or created times. Nothing is kept per series: a sample goes straight into the
 * scrape's chunk, which is sent (waiting, on the scrape's worker thread, for the scraper to read) once full.
 *
 * <p>A sample is {@link #sample(String)}, then its {@link #label labels} in the order of their names (the order the
 * snapshot writers sort them in), then {@link #value(double)} or {@link #value(long)}. Series must come in the
 * snapshot's order too: by label values, taken in that same order of names.
 */
public final class FamilyTextWriter {

    private final Utf8Text out;
    private final boolean openMetrics;
    private final StringBuilder number = new StringBuilder(32);
    private final char[] digits = new char[32];
    private boolean labelsOpen;

    FamilyTextWriter(OutputStream out, boolean openMetrics) {
        this.out = new Utf8Text(out);
        this.openMetrics = openMetrics;
    }

    /** The header of a counter family named {@code name} (its samples are {@code name_total}). */
    public void counter(String name, String help) throws IOException {
        header(openMetrics ? name : name + "_total", "counter", help);
    }

    /** The header of a classic histogram family ({@code name_bucket}, {@code name_count}, {@code name_sum}). */
    public void histogram(String name, String help) throws IOException {
        header(name, "histogram", help);
    }

    /** Starts a sample of the full name ({@code x_total}, {@code x_bucket}...). */
    public void sample(String fullName) throws IOException {
        out.write(fullName);
        labelsOpen = false;
    }

    public void label(String name, String value) throws IOException {
        out.write(labelsOpen ? ',' : '{');
        labelsOpen = true;
        out.write(name);
        out.write("=\"");
        escaped(value, true);
        out.write('"');
    }

    /** A label whose value is a number: a histogram bucket's {@code le}, preformatted by {@link #format(double)}. */
    public void labelFormatted(String name, String formattedNumber) throws IOException {
        out.write(labelsOpen ? ',' : '{');
        labelsOpen = true;
        out.write(name);
        out.write("=\"");
        out.write(formattedNumber);
        out.write('"');
    }

    /** Ends the sample with a floating point value (a counter's, a histogram's sum). */
    public void value(double v) throws IOException {
        endLabels();
        if (Double.isInfinite(v)) {
            out.write(format(v));
        } else {
            // the characters of Double.toString(v) (the same conversion), without a String per sample
            number.setLength(0);
            number.append(v);
            number.getChars(0, number.length(), digits, 0);
            out.write(digits, 0, number.length());
        }
        out.write('\n');
    }

    /** Ends the sample with an integer value (a bucket's cumulative count, a histogram's count). */
    public void value(long v) throws IOException {
        endLabels();
        writeLong(v);
        out.write('\n');
    }

    /** A number as the snapshot writers format it. */
    public static String format(double v) {
        if (v == Double.POSITIVE_INFINITY) {
            return "+Inf";
        }
        if (v == Double.NEGATIVE_INFINITY) {
            return "-Inf";
        }
        return Double.toString(v);
    }

    void flush() throws IOException {
        out.flush();
    }

    private void header(String name, String type, String help) throws IOException {
        boolean hasHelp = help != null && !help.isEmpty();
        if (openMetrics) {
            out.write("# TYPE " + name + " " + type + "\n");
            if (hasHelp) {
                out.write("# HELP " + name + " ");
                escaped(help, true);
                out.write('\n');
            }
            return;
        }
        if (hasHelp) {
            out.write("# HELP " + name + " ");
            escaped(help, false);
            out.write('\n');
        }
        out.write("# TYPE " + name + " " + type + "\n");
    }

    private void endLabels() throws IOException {
        if (labelsOpen) {
            out.write('}');
        }
        out.write(' ');
    }

    /** Backslash and newline escaped; double quotes too in label values and OpenMetrics' help. */
    private void escaped(String s, boolean quotes) throws IOException {
        int start = 0;
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            String escape = c == '\\' ? "\\\\" : c == '\n' ? "\\n" : c == '"' && quotes ? "\\\"" : null;
            if (escape != null) {
                out.write(s, start, i - start);
                out.write(escape);
                start = i + 1;
            }
        }
        out.write(s, start, s.length() - start);
    }

    private void writeLong(long v) throws IOException {
        if (v < 0) {
            out.write(Long.toString(v));
            return;
        }
        int at = digits.length;
        do {
            digits[--at] = (char) ('0' + v % 10);
            v /= 10;
        } while (v != 0);
        out.write(digits, at, digits.length - at);
    }
}
