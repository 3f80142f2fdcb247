package io.jmesh.ztunnel.discovery;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import com.fasterxml.jackson.databind.node.TextNode;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.util.JsonFormat;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import java.io.IOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Iterator;
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

    private static final ObjectMapper YAML = new ObjectMapper(new YAMLFactory());
    private static final Set<String> TOP_LEVEL = Set.of("workloads", "services", "authorizations");

    private StaticConfigFile() {}

    public static Contents read(Path file) {
        JsonNode root;
        try {
            root = YAML.readTree(Files.readString(file));
        } catch (IOException e) {
            throw new IllegalArgumentException(file + ": cannot read: " + e.getMessage(), e);
        }
        return parse(file.toString(), root);
    }

    static Contents parse(String source, JsonNode root) {
        if (root == null || root.isMissingNode() || root.isNull()) {
            return new Contents(Map.of(), List.of());
        }
        if (!root.isObject()) {
            throw new IllegalArgumentException(source + ": expected a mapping with " + TOP_LEVEL);
        }
        for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
            String k = it.next();
            if (!TOP_LEVEL.contains(k)) {
                throw new IllegalArgumentException(source + ": unknown key '" + k + "' (known keys: " + TOP_LEVEL + ")");
            }
        }
        Map<String, Address> addresses = new LinkedHashMap<>();
        List<Authorization> authorizations = new ArrayList<>();
        int i = 0;
        for (JsonNode n : list(root, "workloads", source)) {
            String where = source + ": workloads[" + i++ + "]";
            ObjectNode copy = n.deepCopy();
            rewriteIpArray(copy, "addresses", where);
            rewriteGateway(copy, "waypoint", where);
            rewriteGateway(copy, "networkGateway", where);
            Workload.Builder b = Workload.newBuilder();
            merge(copy, b, where);
            Address a = Address.newBuilder().setWorkload(b).build();
            add(addresses, a, where);
        }
        i = 0;
        for (JsonNode n : list(root, "services", source)) {
            String where = source + ": services[" + i++ + "]";
            ObjectNode copy = n.deepCopy();
            if (copy.get("addresses") instanceof ArrayNode arr) {
                int j = 0;
                for (JsonNode na : arr) {
                    if (na instanceof ObjectNode o && o.get("address") != null) {
                        o.set("address", new TextNode(ipToBase64(o.get("address").asText(),
                                where + ".addresses[" + j + "].address")));
                    }
                    j++;
                }
            }
            rewriteGateway(copy, "waypoint", where);
            Service.Builder b = Service.newBuilder();
            merge(copy, b, where);
            add(addresses, Address.newBuilder().setService(b).build(), where);
        }
        i = 0;
        for (JsonNode n : list(root, "authorizations", source)) {
            String where = source + ": authorizations[" + i++ + "]";
            Authorization.Builder b = Authorization.newBuilder();
            merge(n, b, where);
            if (b.getName().isEmpty() || b.getNamespace().isEmpty()) {
                throw new IllegalArgumentException(where + ": name and namespace are required");
            }
            authorizations.add(b.build());
        }
        return new Contents(Map.copyOf(addresses), List.copyOf(authorizations));
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

    private static Iterable<JsonNode> list(JsonNode root, String key, String source) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) {
            return List.of();
        }
        if (!n.isArray()) {
            throw new IllegalArgumentException(source + ": '" + key + "' must be a list");
        }
        return n;
    }

    /** {@code GatewayAddress.address.address} written as IP text. */
    private static void rewriteGateway(ObjectNode node, String field, String where) {
        if (node.get(field) instanceof ObjectNode gw && gw.get("address") instanceof ObjectNode na
                && na.get("address") != null) {
            na.set("address", new TextNode(ipToBase64(na.get("address").asText(), where + "." + field + ".address.address")));
        }
    }

    private static void rewriteIpArray(ObjectNode node, String field, String where) {
        JsonNode arr = node.get(field);
        if (arr == null) {
            return;
        }
        if (!arr.isArray()) {
            throw new IllegalArgumentException(where + "." + field + ": must be a list of IP addresses");
        }
        ArrayNode out = node.putArray(field);
        int j = 0;
        for (JsonNode ip : arr) {
            out.add(ipToBase64(ip.asText(), where + "." + field + "[" + j++ + "]"));
        }
    }

    private static String ipToBase64(String text, String where) {
        if (!looksLikeIp(text)) {
            throw new IllegalArgumentException(where + ": '" + text + "' is not an IP address");
        }
        try {
            return Base64.getEncoder().encodeToString(InetAddress.getByName(text).getAddress());
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(where + ": '" + text + "' is not an IP address", e);
        }
    }

    /** Literal IPv4/IPv6 only: never let a name trigger a DNS lookup. */
    public static boolean looksLikeIp(String s) {
        return !s.isEmpty() && (s.indexOf(':') >= 0 ? s.matches("[0-9a-fA-F:.]+") : s.matches("[0-9.]+"));
    }

    private static void merge(JsonNode json, com.google.protobuf.Message.Builder b, String where) {
        try {
            JsonFormat.parser().merge(json.toString(), b);
        } catch (InvalidProtocolBufferException e) {
            throw new IllegalArgumentException(where + ": " + e.getMessage(), e);
        }
    }
}
