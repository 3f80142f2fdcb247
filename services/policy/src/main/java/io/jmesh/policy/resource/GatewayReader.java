package io.jmesh.policy.resource;

import io.jmesh.policy.translate.NetworkGateways;
import io.jmesh.policy.translate.WaypointInboundBinding;
import io.jmesh.proto.config.v1.GatewayClassSpec;
import io.jmesh.proto.config.v1.GatewaySpec;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.istio.workload.ApplicationTunnel;
import java.util.List;

/**
 * Gateway API {@code Gateway} and {@code GatewayClass}, read for what the mesh derives from them: Istio's
 * {@value WaypointInboundBinding#ANNOTATION} annotation ({@link WaypointInboundBinding}), the class a Gateway
 * belongs to, and what makes a Gateway labelled {@value NetworkGateways#LABEL} its network's east-west gateway
 * ({@link NetworkGateways}): its IP addresses and the port of its {@value NetworkGateways#HBONE} listener. The rest
 * of their specs is the gateway controller's business: accepted and ignored.
 */
final class GatewayReader {

    private static final List<String> IGNORED_GATEWAY = List.of("infrastructure", "allowedListeners", "tls",
            "backendTLS", "defaultScope");
    private static final List<String> IGNORED_LISTENER = List.of("hostname", "tls", "allowedRoutes");
    private static final List<String> IGNORED_CLASS = List.of("parametersRef", "description");
    /** The Gateway API's default address type. */
    private static final String IP_ADDRESS = "IPAddress";

    private GatewayReader() {}

    static GatewaySpec readGateway(Obj spec, ObjectMeta meta) {
        Problems p = spec.problems();
        GatewaySpec.Builder b = GatewaySpec.newBuilder();
        String className = spec.requiredString("gatewayClassName");
        if (className != null && Names.dnsSubdomain(className, spec.at("gatewayClassName"), p)) {
            b.setGatewayClassName(className);
        }
        String network = meta.getLabelsMap().get(NetworkGateways.LABEL);
        boolean hasHbone = listeners(spec, b);
        boolean hasAddress = addresses(spec, network != null, b);
        if (network != null) {
            String needs = "a network gateway (label " + NetworkGateways.LABEL + ") needs ";
            if (network.isEmpty()) {
                p.error("metadata.labels." + NetworkGateways.LABEL, "must name a network (empty is the default"
                        + " network, which has no gateway)");
            }
            if (!hasHbone) {
                p.error(spec.at("listeners"), needs + "a listener with protocol " + NetworkGateways.HBONE);
            }
            if (!hasAddress) {
                p.error(spec.at("addresses"), needs + "an address of type " + IP_ADDRESS + " (jmesh takes it from"
                        + " the spec, not the status)");
            }
        }
        IGNORED_GATEWAY.forEach(spec::ignore);
        spec.finish();
        return b.build();
    }

    /**
     * Checks the shape of {@code spec.listeners} and keeps the port of the first {@value NetworkGateways#HBONE}
     * one; true when some listener says {@value NetworkGateways#HBONE} (even with a bad port, already reported).
     */
    private static boolean listeners(Obj spec, GatewaySpec.Builder b) {
        Problems p = spec.problems();
        boolean hasHbone = false;
        for (Obj.Item item : spec.list("listeners")) {
            Obj listener = item.obj(p);
            if (listener == null) {
                continue;
            }
            String name = listener.requiredString("name");
            if (name != null) {
                Names.dnsSubdomain(name, listener.at("name"), p);
            }
            Long port = listener.integer("port", 1, 65535);
            if (port == null && !listener.has("port")) {
                p.error(listener.at("port"), "required");
            }
            String protocol = listener.requiredString("protocol");
            if (NetworkGateways.HBONE.equals(protocol)) {
                hasHbone = true;
                if (port != null && b.getHbonePort() == 0) {
                    b.setHbonePort(port.intValue());
                }
            }
            IGNORED_LISTENER.forEach(listener::ignore);
            listener.finish();
        }
        return hasHbone;
    }

    /**
     * Keeps the {@value #IP_ADDRESS} values of {@code spec.addresses} (each an IP literal); another type is an error
     * on a network gateway, which is dialled by IP. True when the list has any item (a wrong one is reported on its
     * own).
     */
    private static boolean addresses(Obj spec, boolean networkGateway, GatewaySpec.Builder b) {
        Problems p = spec.problems();
        List<Obj.Item> items = spec.list("addresses");
        for (Obj.Item item : items) {
            Obj address = item.obj(p);
            if (address == null) {
                continue;
            }
            String type = address.string("type");
            String value = address.requiredString("value");
            if (type == null || IP_ADDRESS.equals(type)) {
                if (value != null && Names.ip(value, address.at("value"), p) != null) {
                    b.addAddresses(value);
                }
            } else if (networkGateway) {
                p.error(address.at("type"), "'" + type + "' cannot address a network gateway (expected: "
                        + IP_ADDRESS + ")");
            }
            address.finish();
        }
        return !items.isEmpty();
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
