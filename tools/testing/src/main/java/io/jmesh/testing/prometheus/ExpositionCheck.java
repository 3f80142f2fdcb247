package io.jmesh.testing.prometheus;

import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;

/**
 * Whether a {@code /metrics} text is a valid exposition, judged by Prometheus' own {@code promtool check metrics}
 * (the Debian {@code prometheus} package) plus the checks promtool leaves out.
 *
 * <p>promtool (2.42) parses Prometheus text 0.0.4 and fails on a parse error (a second HELP or TYPE of a family, a
 * bad escape, a malformed line), then lints (missing help, counter without {@code _total}, non-base units...). Its
 * parser silently merges a family whose samples are split by another family's and keeps duplicate series:
 * {@link #structureProblems} reports those, in either text format (OpenMetrics too, which promtool cannot read).
 */
public final class ExpositionCheck {

    public static final Path PROMTOOL = Path.of("/usr/bin/promtool");
    private static final List<String> SAMPLE_SUFFIXES = List.of("_total", "_created", "_bucket", "_count", "_sum",
            "_info", "_gcount", "_gsum");

    private ExpositionCheck() {
    }

    /** Why promtool cannot run here, or null when it can. */
    public static String unavailableReason() {
        return Files.isExecutable(PROMTOOL) ? null
                : "promtool is not installed (apt-get install -y prometheus): expositions not checked";
    }

    /**
     * Every problem with a Prometheus text 0.0.4 exposition: promtool's parse error or lint problems (each
     * {@code metric text}, as promtool prints them) other than {@code allowedLint}, then {@link #structureProblems}.
     * Empty when the text is valid.
     */
    public static List<String> problems(String text, Set<String> allowedLint) throws IOException, InterruptedException {
        List<String> problems = new ArrayList<>();
        Process p = new ProcessBuilder(PROMTOOL.toString(), "check", "metrics").redirectErrorStream(true).start();
        // promtool reads all of its input before it writes anything: no pipe can fill up while we write
        try (OutputStream in = p.getOutputStream()) {
            in.write(text.getBytes(StandardCharsets.UTF_8));
        }
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(60, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new IllegalStateException("promtool check metrics did not finish within 60 s");
        }
        // exit 1: not parsed (the one error is its output); 3: lint problems, one a line; 0: valid
        if (p.exitValue() == 1) {
            problems.add("promtool: " + out.strip());
        } else {
            out.lines().filter(l -> !l.isBlank() && !allowedLint.contains(l))
                    .forEach(l -> problems.add("promtool lint: " + l));
            if (p.exitValue() != 0 && p.exitValue() != 3) {
                problems.add("promtool exited " + p.exitValue() + ": " + out.strip());
            }
        }
        problems.addAll(structureProblems(text));
        return problems;
    }

    /**
     * A family's samples apart (another family's in between) and series written twice (same name and labels, in
     * the written order: the writers sort labels), in Prometheus text or OpenMetrics.
     */
    public static List<String> structureProblems(String text) {
        List<String> problems = new ArrayList<>();
        Set<String> declared = new HashSet<>();
        Set<String> families = new HashSet<>();
        Map<String, Integer> seriesLine = new HashMap<>();
        String current = null;
        int number = 0;
        for (String line : text.split("\n", -1)) {
            number++;
            String family;
            if (line.startsWith("# HELP ") || line.startsWith("# TYPE ") || line.startsWith("# UNIT ")) {
                family = line.split(" ", 4)[2];
                declared.add(family);
            } else if (line.isEmpty() || line.startsWith("#")) {
                continue;
            } else {
                int end = 0;
                while (end < line.length() && line.charAt(end) != '{' && line.charAt(end) != ' ') {
                    end++;
                }
                String name = line.substring(0, end);
                String series = name + line.substring(end, labelsEnd(line, end));
                Integer first = seriesLine.putIfAbsent(series, number);
                if (first != null) {
                    problems.add("line " + number + ": series " + series + " again (first at line " + first + ")");
                }
                family = familyOf(name, declared);
            }
            if (!family.equals(current)) {
                if (!families.add(family)) {
                    problems.add("line " + number + ": family " + family + " again, after " + current
                            + " (its samples must be together)");
                }
                current = family;
            }
        }
        return problems;
    }

    /** Where the label set that may start at {@code from} ends (a quoted value may hold braces). */
    private static int labelsEnd(String line, int from) {
        if (from >= line.length() || line.charAt(from) != '{') {
            return from;
        }
        boolean quoted = false;
        for (int i = from + 1; i < line.length(); i++) {
            char c = line.charAt(i);
            if (quoted && c == '\\') {
                i++;
            } else if (c == '"') {
                quoted = !quoted;
            } else if (c == '}' && !quoted) {
                return i + 1;
            }
        }
        return line.length();
    }

    private static String familyOf(String sampleName, Set<String> declared) {
        if (declared.contains(sampleName)) {
            return sampleName;
        }
        for (String suffix : SAMPLE_SUFFIXES) {
            String base = sampleName.endsWith(suffix) ? sampleName.substring(0, sampleName.length() - suffix.length())
                    : null;
            if (base != null && declared.contains(base)) {
                return base;
            }
        }
        return sampleName;
    }
}
