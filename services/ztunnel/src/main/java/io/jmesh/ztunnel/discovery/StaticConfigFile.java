package io.jmesh.ztunnel.discovery;

import io.jmesh.core.net.IpLiteral;
import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FieldDescriptor;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.jmesh.core.config.Ports;
import io.jmesh.core.config.YamlTree;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.io.IOException;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Local-mode configuration: a YAML file with three lists in Istio's proto shapes (JSON field names of
 * {@code istio.workload.Workload}, {@code istio.workload.Service} and {@code istio.security.Authorization}):
 *
 * <pre>
 * workloads:
 *   - uid: node-b/default/reviews-1
 *     name: reviews-1
 *     namespace: default
 *     serviceAccount: reviews
 *     addresses: [127.0.20.11]          # IP text (the proto's bytes, written readably)
 *     node: node-b
 *     tunnelProtocol: HBONE
 *     services: {"default/reviews.default.svc.cluster.local": {ports: [{servicePort: 9080, targetPort: 9080}]}}
 * services:
 *   - {name: reviews, namespace: default, hostname: reviews.default.svc.cluster.local,
 *      addresses: [{address: 10.96.0.10}], ports: [{servicePort: 9080, targetPort: 9080}]}
 * authorizations: []
 * </pre>
 *
 * The whole file is rejected on the first error, with the list index and the reason: nothing is half-applied.
 */
public final class StaticConfigFile {

    /** What a file contains. */
    public record Contents(Map<String, Address> addresses, List<Authorization> authorizations) {}

    private static final Set<String> TOP_LEVEL = Set.of("workloads", "services", "authorizations");

    private StaticConfigFile() {}

    public static Contents read(Path file) {
        Object root;
        try {
            root = YamlTree.parse(Files.readString(file));
        } catch (IOException | IllegalArgumentException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
        return parse(file.toString(), root);
    }

    /** {@code root}: a {@link YamlTree}, viewed as Vert.x JSON (which wraps its maps and lists as they are read). */
    @SuppressWarnings("unchecked")
    private static Contents parse(String source, Object root) {
        if (root == null) {
            return new Contents(Map.of(), List.of());
        }
        if (!(root instanceof Map<?, ?>)) {
            throw new IllegalArgumentException(source + ": expected a mapping with " + TOP_LEVEL + ", found "
                    + YamlTree.kind(root));
        }
        JsonObject top = new JsonObject((Map<String, Object>) root);
        for (String k : top.fieldNames()) {
            if (!TOP_LEVEL.contains(k)) {
                throw new IllegalArgumentException(source + ": unknown key '" + k + "' (known keys: " + TOP_LEVEL + ")");
            }
        }
        Map<String, Address> addresses = new LinkedHashMap<>();
        List<Authorization> authorizations = new ArrayList<>();
        int i = 0;
        for (Object n : list(top, "workloads", source)) {
            String where = source + ": workloads[" + i++ + "]";
            JsonObject copy = entry(n, where);
            rewriteIpArray(copy, "addresses", where);
            rewriteGateway(copy, "waypoint", where);
            rewriteGateway(copy, "networkGateway", where);
            Workload.Builder b = Workload.newBuilder();
            merge(copy, b, where);
            Address a = Address.newBuilder().setWorkload(b).build();
            add(addresses, a, where);
        }
        i = 0;
        for (Object n : list(top, "services", source)) {
            String where = source + ": services[" + i++ + "]";
            JsonObject copy = entry(n, where);
            if (copy.getValue("addresses") instanceof JsonArray arr) {
                for (int j = 0; j < arr.size(); j++) {
                    if (arr.getValue(j) instanceof JsonObject o && o.getValue("address") != null) {
                        o.put("address", ipToBase64(String.valueOf(o.getValue("address")),
                                where + ".addresses[" + j + "].address"));
                    }
                }
            }
            rewriteGateway(copy, "waypoint", where);
            Service.Builder b = Service.newBuilder();
            merge(copy, b, where);
            add(addresses, Address.newBuilder().setService(b).build(), where);
        }
        i = 0;
        for (Object n : list(top, "authorizations", source)) {
            String where = source + ": authorizations[" + i++ + "]";
            Authorization.Builder b = Authorization.newBuilder();
            merge(entry(n, where), b, where);
            if (b.getName().isEmpty() || b.getNamespace().isEmpty()) {
                throw new IllegalArgumentException(where + ": name and namespace are required");
            }
            authorizations.add(b.build());
        }
        return new Contents(Map.copyOf(addresses), List.copyOf(authorizations));
    }

    /** A deep copy of one list entry, which must be a mapping. */
    private static JsonObject entry(Object n, String where) {
        if (n instanceof JsonObject j) {
            return j.copy();
        }
        throw new IllegalArgumentException(where + ": expected a mapping, found "
                + (n instanceof JsonArray ? "a list" : YamlTree.kind(n)));
    }

    private static void add(Map<String, Address> out, Address a, String where) {
        String name = WorkloadIndex.name(a);
        String problem = AddressValidator.problem(name, a);
        if (problem != null) {
            throw new IllegalArgumentException(where + ": " + problem);
        }
        if (out.putIfAbsent(name, a) != null) {
            throw new IllegalArgumentException(where + ": duplicate resource name '" + name + "'");
        }
    }

    private static JsonArray list(JsonObject root, String key, String source) {
        Object n = root.getValue(key);
        if (n == null) {
            return new JsonArray();
        }
        if (!(n instanceof JsonArray arr)) {
            throw new IllegalArgumentException(source + ": '" + key + "' must be a list");
        }
        return arr;
    }

    /** {@code GatewayAddress.address.address} written as IP text. */
    private static void rewriteGateway(JsonObject node, String field, String where) {
        if (node.getValue(field) instanceof JsonObject gw && gw.getValue("address") instanceof JsonObject na
                && na.getValue("address") != null) {
            na.put("address", ipToBase64(String.valueOf(na.getValue("address")),
                    where + "." + field + ".address.address"));
        }
    }

    private static void rewriteIpArray(JsonObject node, String field, String where) {
        Object arr = node.getValue(field);
        if (arr == null) {
            return;
        }
        if (!(arr instanceof JsonArray ips)) {
            throw new IllegalArgumentException(where + "." + field + ": must be a list of IP addresses");
        }
        JsonArray out = new JsonArray();
        for (int j = 0; j < ips.size(); j++) {
            out.add(ipToBase64(String.valueOf(ips.getValue(j)), where + "." + field + "[" + j + "]"));
        }
        node.put(field, out);
    }

    private static String ipToBase64(String text, String where) {
        InetAddress ip = IpLiteral.parse(text);
        if (ip == null) {
            throw new IllegalArgumentException(where + ": '" + text
                    + "' is not an IP address (expected: a dotted quad, or IPv6 without brackets)");
        }
        return Base64.getEncoder().encodeToString(ip.getAddress());
    }


    private static final Set<String> INTEGER_WRAPPERS = Set.of("google.protobuf.Int32Value",
            "google.protobuf.UInt32Value", "google.protobuf.Int64Value", "google.protobuf.UInt64Value");

    /**
     * Numbers written as text (quoted, or not YAML integers) in the integer and enum fields of {@code node}, a
     * {@code type} in JSON, and in the messages within: plain ASCII digits, with a '-' for signed types. Protobuf's
     * JSON reader takes such text through Long.parseLong, then BigDecimal: "+80", "٨٠", "80.0" and "8e1" would all be
     * port 80. Fields it does not know are left to it (it rejects them).
     */
    private static void plainNumbers(JsonObject node, Descriptor type, String where) {
        for (String key : node.fieldNames()) {
            FieldDescriptor f = null;
            for (FieldDescriptor candidate : type.getFields()) {
                if (candidate.getName().equals(key) || candidate.getJsonName().equals(key)) {
                    f = candidate;
                    break;
                }
            }
            if (f == null) {
                continue;
            }
            Object v = node.getValue(key);
            String at = where + "." + key;
            if (f.isMapField() && v instanceof JsonObject map) {
                FieldDescriptor mapKey = f.getMessageType().findFieldByName("key");
                FieldDescriptor mapValue = f.getMessageType().findFieldByName("value");
                for (String k : map.fieldNames()) {
                    plainNumber(mapKey, k, at + "." + k);
                    plainNumber(mapValue, map.getValue(k), at + "." + k);
                }
            } else if (f.isRepeated() && !f.isMapField() && v instanceof JsonArray list) {
                for (int i = 0; i < list.size(); i++) {
                    plainNumber(f, list.getValue(i), at + "[" + i + "]");
                }
            } else {
                plainNumber(f, v, at);
            }
        }
    }

    private static void plainNumber(FieldDescriptor f, Object v, String at) {
        switch (f.getJavaType()) {
            case INT, LONG -> plainDigits(v, isSigned(f), at);
            case ENUM -> {
                // a name, or a number (text the JSON reader would take for one, as it does for integers)
                if (v instanceof String text && f.getEnumType().findValueByName(text) == null && isNumber(text)) {
                    plainDigits(v, true, at);
                }
            }
            case MESSAGE -> {
                Descriptor t = f.getMessageType();
                if (INTEGER_WRAPPERS.contains(t.getFullName())) {
                    plainDigits(v, isSigned(t.findFieldByName("value")), at);
                } else if (v instanceof JsonObject o && !t.getFullName().startsWith("google.protobuf.")) {
                    plainNumbers(o, t, at);
                }
            }
            default -> {
                // strings, bytes, booleans, floats: the JSON reader's business
            }
        }
    }

    private static void plainDigits(Object v, boolean signed, String at) {
        if (v instanceof String text
                && !Ports.isDigits(signed && text.startsWith("-") ? text.substring(1) : text)) {
            throw new IllegalArgumentException(at + ": '" + text + "' is not a number (expected: plain digits)");
        }
    }

    /** Whether protobuf's JSON reader would read {@code text} as a number (else it is an unknown enum name). */
    private static boolean isNumber(String text) {
        try {
            new java.math.BigDecimal(text); // its last resort, which takes every script's digits too
            return true;
        } catch (NumberFormatException e) {
            return false;
        }
    }

    private static boolean isSigned(FieldDescriptor f) {
        return switch (f.getType()) {
            case INT32, INT64, SINT32, SINT64, SFIXED32, SFIXED64 -> true;
            default -> false;
        };
    }

    private static void merge(JsonObject json, com.google.protobuf.Message.Builder b, String where) {
        plainNumbers(json, b.getDescriptorForType(), where);
        try {
            JsonFormat.parser().merge(json.encode(), b);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }
}
