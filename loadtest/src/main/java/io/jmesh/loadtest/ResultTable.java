package io.jmesh.loadtest;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A benchmark's results: rows of named cells, rendered as a Markdown table and as JSON. Cells are strings for
 * display plus, where numeric, the raw number for the JSON file.
 */
public final class ResultTable {

    private final List<String> columns;
    private final List<Map<String, Object>> rows = new ArrayList<>();
    private final List<String> notes = new ArrayList<>();

    public ResultTable(String... columns) {
        this.columns = List.of(columns);
    }

    /** Adds a row; values are given in column order. Numbers are kept as numbers in JSON. */
    public ResultTable row(Object... values) {
        if (values.length != columns.size()) {
            throw new IllegalArgumentException("row: " + values.length + " values (expected: " + columns.size() + ")");
        }
        Map<String, Object> row = new LinkedHashMap<>();
        for (int i = 0; i < values.length; i++) {
            row.put(columns.get(i), values[i]);
        }
        rows.add(row);
        return this;
    }

    /** A line printed under the table (conditions, machine, caveats). */
    public ResultTable note(String note) {
        notes.add(note);
        return this;
    }

    public List<String> columns() {
        return columns;
    }

    public List<Map<String, Object>> rows() {
        return rows;
    }

    public List<String> notes() {
        return notes;
    }

    public String markdown() {
        StringBuilder sb = new StringBuilder();
        sb.append('|');
        columns.forEach(c -> sb.append(' ').append(c).append(" |"));
        sb.append("\n|");
        columns.forEach(c -> sb.append("---|"));
        sb.append('\n');
        for (Map<String, Object> row : rows) {
            sb.append('|');
            for (String c : columns) {
                sb.append(' ').append(format(row.get(c))).append(" |");
            }
            sb.append('\n');
        }
        for (String n : notes) {
            sb.append('\n').append(n).append('\n');
        }
        return sb.toString();
    }

    public String json() {
        StringBuilder sb = new StringBuilder("{\"columns\":[");
        for (int i = 0; i < columns.size(); i++) {
            sb.append(i == 0 ? "" : ",").append(quote(columns.get(i)));
        }
        sb.append("],\"rows\":[");
        for (int r = 0; r < rows.size(); r++) {
            sb.append(r == 0 ? "" : ",").append('{');
            int i = 0;
            for (Map.Entry<String, Object> e : rows.get(r).entrySet()) {
                sb.append(i++ == 0 ? "" : ",").append(quote(e.getKey())).append(':');
                Object v = e.getValue();
                sb.append(v instanceof Number n && Double.isFinite(n.doubleValue()) ? n.toString()
                        : v == null ? "null" : quote(v.toString()));
            }
            sb.append('}');
        }
        sb.append("],\"notes\":[");
        for (int i = 0; i < notes.size(); i++) {
            sb.append(i == 0 ? "" : ",").append(quote(notes.get(i)));
        }
        return sb.append("]}").toString();
    }

    static String format(Object v) {
        if (v instanceof Double d) {
            return Math.abs(d) >= 100 ? String.format("%,.0f", d) : String.format("%.2f", d);
        }
        if (v instanceof Float f) {
            return format(f.doubleValue());
        }
        return v == null ? "" : v.toString();
    }

    private static String quote(String s) {
        StringBuilder sb = new StringBuilder("\"");
        for (char c : s.toCharArray()) {
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                default -> {
                    if (c < 0x20) {
                        sb.append(String.format("\\u%04x", (int) c));
                    } else {
                        sb.append(c);
                    }
                }
            }
        }
        return sb.append('"').toString();
    }
}
