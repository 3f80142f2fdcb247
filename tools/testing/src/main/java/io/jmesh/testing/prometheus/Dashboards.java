package io.jmesh.testing.prometheus;

import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/** The panel queries of the Grafana dashboards in {@code charts/jmesh/dashboards}, in the form Prometheus runs. */
public final class Dashboards {

    private static final Pattern METRIC = Pattern.compile(
            "\\b(istio_[a-z_]+|telemetry_[a-z_]+|mesh_[a-z_]+|ztunnel_[a-z_]+|ca_[a-z_]+|policy_[a-z_]+"
                    + "|waypoint_[a-z_]+|jvm_[a-z_]+|process_[a-z_]+|up)\\b");

    private Dashboards() {}

    /** A variable's query finds nothing: every panel using it would show no data. */
    public static final class NoValues extends IllegalStateException {
        NoValues(String message) {
            super(message);
        }
    }

    /** A dashboard variable of type query, as Grafana resolves it with "All" selected. */
    public record Variable(String name, String query, String allValue) {

        private static final Pattern LABEL_VALUES = Pattern.compile("label_values\\((?:(.*),\\s*)?([a-zA-Z_]+)\\)");

        /**
         * The value Grafana puts in place of {@code $name}: the variable's all-value, or every value the query
         * finds, regex-escaped and joined as {@code (a|b)}; fails when the query finds none (the panels using it
         * would show no data).
         */
        String resolve(PrometheusServer prom, Map<String, Variable> all) throws IOException {
            if (allValue != null) {
                return allValue;
            }
            Matcher m = LABEL_VALUES.matcher(query);
            if (!m.matches()) {
                throw new IllegalStateException("$" + name + ": unsupported variable query " + query);
            }
            String selector = m.group(1) == null ? null : substitute(m.group(1), prom, all);
            List<String> values = prom.labelValues(m.group(2), selector);
            if (values.isEmpty()) {
                throw new NoValues("$" + name + ": " + query + " finds no values");
            }
            return values.stream().map(Variable::escape).collect(Collectors.joining("|", "(", ")"));
        }

        /** As Grafana escapes a value for a Prometheus regex matcher (one more backslash for the string literal). */
        private static String escape(String v) {
            return v.replaceAll("([\\\\^$.|?*+()\\[\\]{}])", "\\\\\\\\$1");
        }
    }

    /** One query of one panel, with its dashboard's variables. */
    public record PanelQuery(String dashboard, String panel, String expr, Map<String, Variable> variables) {

        /** The query as Grafana sends it with every variable on "All", resolved against {@code prom}. */
        public String evaluable(PrometheusServer prom) throws IOException {
            return substitute(expr, prom, variables);
        }

        /** The metric names the query reads. */
        public Set<String> metrics() {
            Set<String> names = new LinkedHashSet<>();
            Matcher m = METRIC.matcher(expr);
            while (m.find()) {
                names.add(m.group(1));
            }
            return names;
        }

        @Override
        public String toString() {
            return dashboard + " / " + panel + ": " + expr;
        }
    }

    private static final Pattern VARIABLE = Pattern.compile("\\$\\{?([a-zA-Z_]+)\\}?");

    static String substitute(String expr, PrometheusServer prom, Map<String, Variable> variables) throws IOException {
        Matcher m = VARIABLE.matcher(expr.replace("$__rate_interval", "1m"));
        StringBuilder out = new StringBuilder();
        while (m.find()) {
            Variable v = variables.get(m.group(1));
            if (v == null) {
                throw new IllegalStateException("$" + m.group(1) + " is not a variable of the dashboard: " + expr);
            }
            m.appendReplacement(out, Matcher.quoteReplacement(v.resolve(prom, variables)));
        }
        m.appendTail(out);
        return out.toString();
    }

    /**
     * Every target of every panel of every dashboard file in {@code dir}; fails on a dashboard without uid or
     * title, duplicate panel ids, a panel without position, or a non-row panel without queries.
     */
    public static List<PanelQuery> panelQueries(Path dir) throws IOException {
        List<PanelQuery> out = new ArrayList<>();
        try (Stream<Path> files = Files.list(dir)) {
            for (Path f : files.filter(x -> x.toString().endsWith(".json")).sorted().toList()) {
                JsonObject d = new JsonObject(Files.readString(f));
                require(!d.getString("uid", "").isBlank(), f + ": no uid");
                Map<String, Variable> variables = variables(d);
                require(!d.getString("title", "").isBlank(), f + ": no title");
                Set<Integer> ids = new LinkedHashSet<>();
                for (Object o : d.getJsonArray("panels")) {
                    JsonObject panel = (JsonObject) o;
                    String title = panel.getString("title");
                    require(ids.add(panel.getInteger("id")), f + ": panel id " + panel.getInteger("id") + " twice");
                    require(panel.getJsonObject("gridPos") != null, f + ": " + title + " has no gridPos");
                    JsonArray targets = panel.getJsonArray("targets", new JsonArray());
                    require("row".equals(panel.getString("type")) || !targets.isEmpty(), f + ": " + title
                            + " has no queries");
                    for (Object t : targets) {
                        out.add(new PanelQuery(f.getFileName().toString(), title, ((JsonObject) t).getString("expr"),
                                variables));
                    }
                }
            }
        }
        return out;
    }

    private static Map<String, Variable> variables(JsonObject dashboard) {
        Map<String, Variable> out = new LinkedHashMap<>();
        JsonObject templating = dashboard.getJsonObject("templating", new JsonObject());
        for (Object o : templating.getJsonArray("list", new JsonArray())) {
            JsonObject v = (JsonObject) o;
            if (!"query".equals(v.getString("type"))) {
                continue;
            }
            Object q = v.getValue("query");
            String query = q instanceof JsonObject j ? j.getString("query") : String.valueOf(q);
            out.put(v.getString("name"), new Variable(v.getString("name"), query, v.getString("allValue")));
        }
        return Map.copyOf(out);
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalStateException(message);
        }
    }
}
