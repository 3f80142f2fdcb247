package io.jmesh.policy.translate;

import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.ServiceEntrySpec;
import io.jmesh.proto.config.v1.ServiceSpec;
import io.jmesh.proto.istio.workload.LoadBalancing;
import io.jmesh.proto.istio.workload.LoadBalancing.Scope;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;

/**
 * A {@code Service}'s traffic settings → the {@link LoadBalancing} ztunnel applies when it picks one of the
 * service's endpoints, as istiod does. First match wins:
 *
 * <ol>
 *   <li>{@code spec.internalTrafficPolicy: Local} → {@code [NODE]} STRICT (only endpoints on the client's node;
 *       none there: the connection is refused);
 *   <li>{@code spec.trafficDistribution} ({@code PreferSameZone}, its older name {@code PreferClose}, or
 *       {@code PreferSameNode});
 *   <li>the Service's {@value #ANNOTATION} annotation (same values, any case);
 *   <li>the annotation on the Service's Namespace;
 *   <li>nothing: no load balancing settings (any healthy endpoint, weighted by capacity).
 * </ol>
 *
 * {@code PreferSameZone} → {@code [NETWORK, REGION, ZONE, SUBZONE]} FAILOVER; {@code PreferSameNode} → the same
 * plus {@code NODE}. {@code spec.publishNotReadyAddresses: true} adds health policy ALLOW_ALL. Stateless.
 */
public final class LoadBalancingTranslator {

    /** Istio's annotation on a Service or Namespace, for clusters whose Service API lacks the field. */
    public static final String ANNOTATION = "networking.istio.io/traffic-distribution";

    /** The values both the field and the annotation accept, for messages. */
    public static final String EXPECTED = "PreferSameZone, PreferClose or PreferSameNode";

    /** A Service's preference for nearby endpoints. */
    public enum Distribution {
        /** Same network, then region, zone, subzone; fall back rank by rank. */
        PREFER_SAME_ZONE,
        /** As {@link #PREFER_SAME_ZONE}, then the same node. */
        PREFER_SAME_NODE
    }

    private static final List<Scope> SAME_ZONE = List.of(Scope.NETWORK, Scope.REGION, Scope.ZONE, Scope.SUBZONE);

    private LoadBalancingTranslator() {}

    /** The distribution {@code spec.trafficDistribution} names (case-sensitive, as Kubernetes), or null. */
    public static Distribution fromField(String value) {
        return switch (value) {
            case "PreferSameZone", "PreferClose" -> Distribution.PREFER_SAME_ZONE;
            case "PreferSameNode" -> Distribution.PREFER_SAME_NODE;
            default -> null;
        };
    }

    /** The distribution the annotation names (any case, as istiod reads it), or null. */
    public static Distribution fromAnnotation(String value) {
        return switch (value.toLowerCase(Locale.ROOT)) {
            case "prefersamezone", "preferclose" -> Distribution.PREFER_SAME_ZONE;
            case "prefersamenode" -> Distribution.PREFER_SAME_NODE;
            default -> null;
        };
    }

    /**
     * The load balancing of {@code service} (a validated Service record, or a ServiceEntry record: it has only the
     * annotation) in {@code namespace} (its Namespace record, or null), or null when it has none.
     */
    public static LoadBalancing forService(ConfigRecord service, ConfigRecord namespace) {
        if (service.hasServiceEntry()
                && service.getServiceEntry().getResolution() == ServiceEntrySpec.Resolution.NONE) {
            // as istiod: no endpoint is chosen, ztunnel sends the connection where it was addressed (health and
            // traffic distribution do not apply)
            return LoadBalancing.newBuilder().setMode(LoadBalancing.Mode.PASSTHROUGH)
                    .setHealthPolicy(LoadBalancing.HealthPolicy.ALLOW_ALL).build();
        }
        ServiceSpec spec = service.getService();
        LoadBalancing.Builder lb = null;
        if ("Local".equals(spec.getInternalTrafficPolicy())) {
            lb = LoadBalancing.newBuilder().addRoutingPreference(Scope.NODE).setMode(LoadBalancing.Mode.STRICT);
        } else {
            Distribution d = distribution(service, namespace);
            if (d != null) {
                List<Scope> scopes = new ArrayList<>(SAME_ZONE);
                if (d == Distribution.PREFER_SAME_NODE) {
                    scopes.add(Scope.NODE);
                }
                lb = LoadBalancing.newBuilder().addAllRoutingPreference(scopes).setMode(LoadBalancing.Mode.FAILOVER);
            }
        }
        if (spec.getPublishNotReadyAddresses()) {
            lb = lb == null ? LoadBalancing.newBuilder() : lb;
            lb.setHealthPolicy(LoadBalancing.HealthPolicy.ALLOW_ALL);
        }
        return lb == null ? null : lb.build();
    }

    /** The field, else the Service's annotation, else the Namespace's; null when none names a distribution. */
    static Distribution distribution(ConfigRecord service, ConfigRecord namespace) {
        String field = service.getService().getTrafficDistribution();
        if (!field.isEmpty()) {
            Distribution d = fromField(field);
            if (d != null) {
                return d;
            }
        }
        String own = service.getMetadata().getAnnotationsMap().get(ANNOTATION);
        if (own != null) {
            return fromAnnotation(own);
        }
        String inherited = namespace == null ? null : namespace.getMetadata().getAnnotationsMap().get(ANNOTATION);
        return inherited == null ? null : fromAnnotation(inherited);
    }

    /**
     * What of a Service's settings will not take effect because another one wins (validation warnings), given
     * its already validated fields.
     */
    public static List<String> warnings(ServiceSpec spec, java.util.Map<String, String> annotations) {
        List<String> out = new ArrayList<>();
        String annotation = annotations.get(ANNOTATION);
        boolean local = "Local".equals(spec.getInternalTrafficPolicy());
        if (local && !spec.getTrafficDistribution().isEmpty()) {
            out.add("spec.trafficDistribution '" + spec.getTrafficDistribution() + "' is ignored: internalTrafficPolicy"
                    + " Local keeps traffic on the client's node (STRICT)");
        }
        if (annotation != null) {
            if (local) {
                out.add("annotation " + ANNOTATION + " '" + annotation + "' is ignored: internalTrafficPolicy Local"
                        + " keeps traffic on the client's node (STRICT)");
            } else if (!spec.getTrafficDistribution().isEmpty()
                    && fromField(spec.getTrafficDistribution()) != fromAnnotation(annotation)) {
                out.add("annotation " + ANNOTATION + " '" + annotation + "' is ignored: spec.trafficDistribution '"
                        + spec.getTrafficDistribution() + "' takes precedence");
            }
        }
        return out;
    }
}
