package io.jmesh.policy.resource;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.MappingIterator;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLMapper;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.policy.translate.WorkloadLocality;
import io.jmesh.proto.config.v1.NodeSpec;
import io.jmesh.proto.config.v1.ObjectMeta;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.UUID;

/**
 * Reads Kubernetes-shaped YAML manifests ({@code apiVersion}, {@code kind}, {@code metadata}, {@code spec}; several
 * documents separated by {@code ---}) into validated {@link ConfigRecord}s, with Istio's validation rules. Every
 * document is judged on its own; an invalid one is rejected whole with the path of each offending field.
 *
 * <p>Kinds: {@code WorkloadEntry} (networking.istio.io), {@code Pod}, {@code Service}, {@code Namespace} and
 * {@code Node} (v1),
 * {@code AuthorizationPolicy} and {@code PeerAuthentication} (security.istio.io), {@code Gateway} and
 * {@code GatewayClass} (gateway.networking.k8s.io), {@code EndpointSlice} (discovery.k8s.io), {@code ServiceEntry}
 * (networking.istio.io). Thread-safe and stateless.
 */
public final class ManifestReader {

    static final Map<String, Set<String>> API_VERSIONS = Map.ofEntries(
            Map.entry("WorkloadEntry", Set.of("networking.istio.io/v1", "networking.istio.io/v1beta1",
                    "networking.istio.io/v1alpha3")),
            Map.entry("Pod", Set.of("v1")),
            Map.entry("Service", Set.of("v1")),
            Map.entry("Namespace", Set.of("v1")),
            Map.entry("Node", Set.of("v1")),
            Map.entry("AuthorizationPolicy", Set.of("security.istio.io/v1", "security.istio.io/v1beta1")),
            Map.entry("PeerAuthentication", Set.of("security.istio.io/v1", "security.istio.io/v1beta1")),
            Map.entry("Gateway", Set.of("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1")),
            Map.entry("GatewayClass", Set.of("gateway.networking.k8s.io/v1", "gateway.networking.k8s.io/v1beta1")),
            Map.entry("EndpointSlice", Set.of("discovery.k8s.io/v1")),
            Map.entry("ServiceEntry", Set.of("networking.istio.io/v1", "networking.istio.io/v1beta1",
                    "networking.istio.io/v1alpha3")));

    /** Kinds without a namespace: their records have an empty one. */
    public static final Set<String> CLUSTER_SCOPED = Set.of("Namespace", "Node", "GatewayClass");

    private static final ObjectMapper YAML = YAMLMapper.builder()
            .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION).build();

    private final String rootNamespace;

    /** @param rootNamespace the mesh root namespace (policies there without a selector apply mesh-wide) */
    public ManifestReader(String rootNamespace) {
        this.rootNamespace = rootNamespace;
    }

    public String rootNamespace() {
        return rootNamespace;
    }

    /**
     * Why a pod (JSON, as the API server serves it) has no record: not scheduled yet, or finished; null when it has
     * one (a workload once it has an address; before, only its identity placed on its node).
     */
    public static String podNotRecorded(String podJson) {
        try {
            return PodReader.notRecorded(YAML.readTree(podJson));
        } catch (IOException e) {
            return "not JSON: " + e.getMessage();
        }
    }

    /**
     * Why an EndpointSlice (JSON, as the API server serves it) has nothing for the mesh: no Service, FQDN, no
     * endpoints, or only pods' in a slice of the EndpointSlice controller; null when it has endpoints or pods to
     * register.
     */
    public static String sliceNotRegistered(String sliceJson) {
        try {
            return EndpointSliceReader.notRegistered(YAML.readTree(sliceJson));
        } catch (IOException e) {
            return "not JSON: " + e.getMessage();
        }
    }

    /** Reads every document of one manifest text; a YAML syntax error rejects the documents it prevents. */
    public List<ParsedObject> read(String manifest) {
        List<ParsedObject> out = new ArrayList<>();
        try (MappingIterator<JsonNode> it = YAML.readerFor(JsonNode.class).readValues(manifest)) {
            int index = 0;
            while (true) {
                JsonNode doc;
                try {
                    if (!it.hasNextValue()) {
                        break;
                    }
                    doc = it.nextValue();
                } catch (IOException | RuntimeException e) {
                    out.add(syntaxError(index, e));
                    break;
                }
                if (doc != null && !doc.isNull() && !(doc.isObject() && doc.isEmpty())) {
                    out.add(readDocument(index, doc));
                }
                index++;
            }
        } catch (IOException e) {
            out.add(syntaxError(out.size(), e));
        }
        return out;
    }

    private static ParsedObject syntaxError(int index, Exception e) {
        String msg = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage().split("\n")[0];
        return new ParsedObject(index, "", "", "", null,
                List.of(new Problems.FieldError("", "invalid YAML: " + msg)), List.of());
    }

    /** Validates one parsed document. */
    public ParsedObject readDocument(int index, JsonNode doc) {
        Problems p = new Problems();
        Obj root = Obj.of(doc, "", p);
        if (root == null) {
            return new ParsedObject(index, "", "", "", null, p.errors(), p.warnings());
        }
        String kind = root.requiredString("kind");
        String apiVersion = root.requiredString("apiVersion");
        if (kind != null && !API_VERSIONS.containsKey(kind)) {
            p.error("kind", "unsupported kind '" + kind + "' (expected one of " + new java.util.TreeSet<>(
                    API_VERSIONS.keySet()) + ")");
            kind = null;
        }
        if (kind != null && apiVersion != null && !API_VERSIONS.get(kind).contains(apiVersion)) {
            p.error("apiVersion", "'" + apiVersion + "' does not serve " + kind + " (expected one of "
                    + new java.util.TreeSet<>(API_VERSIONS.get(kind)) + ")");
        }
        ObjectMeta meta = readMetadata(root, kind, p);
        root.ignore("status"); // read back from a cluster: status is the server's, not the spec
        ConfigRecord.Builder record = ConfigRecord.newBuilder().setSchemaVersion(1)
                .setKind(kind == null ? "" : kind).setMetadata(meta);
        if (kind != null) {
            boolean specless = "Namespace".equals(kind) || "Node".equals(kind) || "EndpointSlice".equals(kind);
            Obj spec = specless ? null : root.object("spec");
            if (spec == null && !specless && !root.has("spec")) {
                p.error("spec", "required");
            }
            switch (kind) {
                case "WorkloadEntry" -> {
                    if (spec != null) {
                        record.setWorkloadEntry(WorkloadEntryReader.read(spec));
                    }
                }
                case "Pod" -> {
                    // observed state: only what the mesh needs is read, the rest of the pod is ignored
                    root.ignore("status");
                    record.setWorkloadEntry(PodReader.read(doc, meta.getLabelsMap(), meta.getName(), p));
                }
                case "Service" -> {
                    if (spec != null) {
                        record.setService(ServiceReader.read(spec, meta));
                    }
                }
                case "ServiceEntry" -> {
                    if (spec != null) {
                        // status.addresses: the VIPs Istio's auto-allocation gave hosts without addresses
                        record.setServiceEntry(ServiceEntryReader.read(spec, doc.get("status"), meta));
                        // its age orders the VIPs policy allocates (an older entry keeps its own)
                        meta = CreationTimestamp.read(meta, doc.path("metadata"), p);
                        record.setMetadata(meta);
                    }
                }
                case "AuthorizationPolicy" -> {
                    if (spec != null) {
                        record.setAuthorizationPolicy(AuthorizationPolicyReader.read(spec));
                    }
                }
                case "PeerAuthentication" -> {
                    if (spec != null) {
                        record.setPeerAuthentication(PeerAuthenticationReader.read(spec, meta, rootNamespace));
                        // of competing policies the oldest applies, as in istiod
                        meta = CreationTimestamp.read(meta, doc.path("metadata"), p);
                        record.setMetadata(meta);
                    }
                }
                case "Node" -> {
                    // a node's locality, nothing else: its status and the rest of its metadata change all the
                    // time and the mesh reads none of it
                    root.ignore("spec");
                    root.ignore("status");
                    Map<String, String> topology = new TreeMap<>(meta.getLabelsMap());
                    topology.keySet().retainAll(WorkloadLocality.LABELS);
                    meta = meta.toBuilder().clearLabels().putAllLabels(topology).clearAnnotations().build();
                    record.setMetadata(meta).setNode(NodeSpec.getDefaultInstance());
                }
                case "Namespace" -> {
                    root.ignore("spec");
                    ServiceReader.trafficDistributionAnnotation(meta, p);
                    record.setNamespace(io.jmesh.proto.config.v1.NamespaceSpec.getDefaultInstance());
                }
                case "EndpointSlice" -> {
                    // observed state, its fields at the top level: only what the mesh needs is read
                    root.ignore("addressType");
                    root.ignore("endpoints");
                    root.ignore("ports");
                    record.setEndpointSlice(EndpointSliceReader.read(doc, meta.getLabelsMap(), p));
                }
                case "Gateway" -> {
                    GatewayReader.inboundBindingAnnotation(meta, p);
                    if (spec != null) {
                        record.setGateway(GatewayReader.readGateway(spec, meta));
                    }
                }
                case "GatewayClass" -> {
                    GatewayReader.inboundBindingAnnotation(meta, p);
                    if (spec != null) {
                        record.setGatewayClass(GatewayReader.readGatewayClass(spec));
                    }
                }
                default -> throw new IllegalStateException(kind);
            }
        }
        root.finish();
        ConfigRecord built = record.build();
        if (!p.hasErrors() && "AuthorizationPolicy".equals(kind)) {
            // what ztunnel will (not) enforce, computed by the same translation discovery uses
            io.jmesh.policy.translate.AuthorizationTranslator.translate(built, rootNamespace).warnings()
                    .forEach(p::warn);
        }
        return new ParsedObject(index, kind == null ? "" : kind, meta.getNamespace(), meta.getName(),
                p.hasErrors() ? null : built, p.errors(), p.warnings());
    }

    private static ObjectMeta readMetadata(Obj root, String kind, Problems p) {
        boolean clusterScoped = kind != null && CLUSTER_SCOPED.contains(kind);
        ObjectMeta.Builder b = ObjectMeta.newBuilder();
        Obj m = root.object("metadata");
        if (m == null) {
            if (!root.has("metadata")) {
                p.error("metadata", "required");
            }
            return b.build();
        }
        String name = m.requiredString("name");
        if (name != null) {
            // as Kubernetes: a Namespace's name is a DNS label, any other kind's (GatewayClass too) a subdomain
            if ("Namespace".equals(kind) ? Names.dnsLabel(name, m.at("name"), p)
                    : Names.dnsSubdomain(name, m.at("name"), p)) {
                b.setName(name);
            }
        }
        String ns = m.string("namespace");
        if (clusterScoped) {
            if (ns != null && !ns.isEmpty()) {
                p.error(m.at("namespace"), kind + " is cluster-scoped (expected: no namespace)");
            }
        } else {
            ns = ns == null || ns.isEmpty() ? "default" : ns;
            if (Names.dnsLabel(ns, m.at("namespace"), p)) {
                b.setNamespace(ns);
            }
        }
        Map<String, String> labels = m.stringMap("labels");
        Names.labels(labels, m.at("labels"), p);
        b.putAllLabels(labels);
        b.putAllAnnotations(m.stringMap("annotations"));
        String uid = m.string("uid");
        if (uid == null || uid.isEmpty()) {
            // stable across re-applies, so an unchanged manifest yields an identical record
            uid = UUID.nameUUIDFromBytes((kind + "/" + b.getNamespace() + "/" + b.getName())
                    .getBytes(StandardCharsets.UTF_8)).toString();
        }
        b.setUid(uid);
        Long generation = m.integer("generation", 0, Long.MAX_VALUE);
        if (generation != null) {
            b.setGeneration(generation);
        }
        // server-populated fields of objects read back from a cluster
        for (String ignored : List.of("resourceVersion", "creationTimestamp", "managedFields", "selfLink",
                "ownerReferences", "finalizers", "generateName", "deletionTimestamp", "deletionGracePeriodSeconds")) {
            m.ignore(ignored);
        }
        m.finish();
        return b.build();
    }
}
