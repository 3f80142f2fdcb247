package io.jmesh.policy.resource;

import io.jmesh.policy.translate.WaypointInboundBinding;
import io.jmesh.proto.config.v1.GatewayClassSpec;
import io.jmesh.proto.config.v1.GatewaySpec;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.istio.workload.ApplicationTunnel;
import java.util.List;

/**
 * Gateway API {@code Gateway} and {@code GatewayClass}, read for what the mesh derives from them: Istio's
 * {@value WaypointInboundBinding#ANNOTATION} annotation ({@link WaypointInboundBinding}) and the class a Gateway
 * belongs to. The rest of their specs is the gateway controller's business: accepted and ignored.
 */
final class GatewayReader {

    private static final List<String> IGNORED_GATEWAY = List.of("listeners", "addresses", "infrastructure",
            "allowedListeners", "tls", "backendTLS", "defaultScope");
    private static final List<String> IGNORED_CLASS = List.of("parametersRef", "description");

    private GatewayReader() {}

    static GatewaySpec readGateway(Obj spec) {
        GatewaySpec.Builder b = GatewaySpec.newBuilder();
        String className = spec.requiredString("gatewayClassName");
        if (className != null && Names.dnsSubdomain(className, spec.at("gatewayClassName"), spec.problems())) {
            b.setGatewayClassName(className);
        }
        IGNORED_GATEWAY.forEach(spec::ignore);
        spec.finish();
        return b.build();
    }

    static GatewayClassSpec readGatewayClass(Obj spec) {
        GatewayClassSpec.Builder b = GatewayClassSpec.newBuilder();
        String controller = spec.requiredString("controllerName");
        if (controller != null) {
            b.setControllerName(controller);
        }
        IGNORED_CLASS.forEach(spec::ignore);
        spec.finish();
        return b.build();
    }

    /**
     * Checks the {@value WaypointInboundBinding#ANNOTATION} annotation of a Gateway or GatewayClass: istiod logs
     * and ignores a bad value, here it is an error, so a typo never silently leaves a waypoint without its tunnel.
     */
    static void inboundBindingAnnotation(ObjectMeta meta, Problems p) {
        String value = meta.getAnnotationsMap().get(WaypointInboundBinding.ANNOTATION);
        if (value == null) {
            return;
        }
        String path = "metadata.annotations." + WaypointInboundBinding.ANNOTATION;
        try {
            ApplicationTunnel tunnel = WaypointInboundBinding.parse(value);
            if (tunnel.getProtocol() == ApplicationTunnel.Protocol.NONE && tunnel.getPort() != 0) {
                p.warn(path + ": the port of '" + value + "' has no effect: NONE sets no application tunnel");
            }
        } catch (IllegalArgumentException e) {
            p.error(path, e.getMessage());
        }
    }
}
