package io.jmesh.policy.translate;

import io.jmesh.core.config.Ports;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.istio.workload.ApplicationTunnel;

/**
 * Istio's {@value #ANNOTATION} annotation: how ztunnel hands inbound tunnels to the instances of a Gateway (a
 * "sandwiched" waypoint), as istiod reads it. The value is {@code <protocol>} or {@code <protocol>/<port>}, protocol
 * {@code NONE} or {@code PROXY}; {@code PROXY/15088} is the usual one. The Gateway's annotation wins over its
 * GatewayClass's. The instances of a Gateway are the workloads labelled {@value #GATEWAY_NAME} with its name, in its
 * namespace; with {@code PROXY} they get {@code application_tunnel {protocol: PROXY, port}} (port 0: the original
 * target port), with {@code NONE} or no annotation nothing. Stateless.
 */
public final class WaypointInboundBinding {

    public static final String ANNOTATION = "ambient.istio.io/waypoint-inbound-binding";

    /** The label that makes a workload an instance of the Gateway it names, in the workload's namespace. */
    public static final String GATEWAY_NAME = "gateway.networking.k8s.io/gateway-name";

    private static final String FORMAT = "<protocol> or <protocol>/<port>, e.g. PROXY/15088";

    private WaypointInboundBinding() {}

    /**
     * The binding a value asks for, {@code NONE} included (the reader warns about a port given with it).
     *
     * @throws IllegalArgumentException why the value is invalid, quoting it (istiod logs and ignores such a value)
     */
    public static ApplicationTunnel parse(String value) {
        if (value.isEmpty()) {
            throw new IllegalArgumentException("must not be empty (expected: " + FORMAT + ")");
        }
        String[] parts = value.split("/", -1);
        if (parts.length > 2) {
            throw new IllegalArgumentException("'" + value + "' has more than one '/' (expected: " + FORMAT + ")");
        }
        ApplicationTunnel.Protocol protocol = switch (parts[0]) {
            case "NONE" -> ApplicationTunnel.Protocol.NONE;
            case "PROXY" -> ApplicationTunnel.Protocol.PROXY;
            default -> throw new IllegalArgumentException("'" + value + "': unknown protocol '" + parts[0]
                    + "' (expected: NONE or PROXY)");
        };
        ApplicationTunnel.Builder tunnel = ApplicationTunnel.newBuilder().setProtocol(protocol);
        if (parts.length == 2) {
            tunnel.setPort(port(value, parts[1]));
        }
        return tunnel.build();
    }

    private static int port(String value, String port) {
        if (!Ports.isDigits(port)) {
            throw new IllegalArgumentException("'" + value + "': port '" + port + "' is not a number (expected:"
                    + " 1-65535)");
        }
        // more than 5 digits is out of range whatever they say, and must not overflow the parse
        int number = port.length() > 5 ? -1 : Integer.parseInt(port);
        if (number < 1 || number > 65535) {
            throw new IllegalArgumentException("'" + value + "': port " + port + " is out of range (expected:"
                    + " 1-65535)");
        }
        return number;
    }

    /**
     * The tunnel the instances of {@code gateway} get: from its own annotation, else from its class's; null when
     * neither has one or it says {@code NONE}.
     *
     * @param gatewayClass the Gateway's GatewayClass, null when it does not exist
     * @throws IllegalArgumentException a value that bypassed validation, naming the object it is on
     */
    public static ApplicationTunnel forGateway(ConfigRecord gateway, ConfigRecord gatewayClass) {
        ConfigRecord source = gateway.getMetadata().containsAnnotations(ANNOTATION) ? gateway
                : gatewayClass != null && gatewayClass.getMetadata().containsAnnotations(ANNOTATION) ? gatewayClass
                : null;
        if (source == null) {
            return null;
        }
        ApplicationTunnel tunnel;
        try {
            tunnel = parse(source.getMetadata().getAnnotationsOrThrow(ANNOTATION));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(source.getKind() + " " + source.getMetadata().getName()
                    + ": metadata.annotations." + ANNOTATION + ": " + e.getMessage(), e);
        }
        return tunnel.getProtocol() == ApplicationTunnel.Protocol.NONE ? null : tunnel;
    }
}
