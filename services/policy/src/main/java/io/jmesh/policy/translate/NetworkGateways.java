package io.jmesh.policy.translate;

import com.google.protobuf.ByteString;
import io.jmesh.core.net.IpLiteral;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.GatewaySpec;
import io.jmesh.proto.config.v1.WorkloadEntrySpec;
import io.jmesh.proto.istio.workload.GatewayAddress;
import io.jmesh.proto.istio.workload.NetworkAddress;
import java.net.InetAddress;
import java.util.HashMap;
import java.util.Map;

/**
 * Istio's ambient multi-network, as istiod derives it: which network a workload is on, and the east-west gateway
 * through which ztunnels on other networks reach it (double HBONE).
 *
 * <ul>
 *   <li>The cluster's network is the {@value #LABEL} label of the mesh's root (system) namespace, as istiod reads
 *       it: every workload without a more specific network is on it, and so is every Service VIP.
 *   <li>A workload's network is its WorkloadEntry's {@code spec.network}, else its own namespace's {@value #LABEL}
 *       label (a jmesh extension: istiod reads the label on the system namespace only), else the cluster's
 *       network, else empty (the default network).
 *   <li>A Gateway labelled {@value #LABEL} (metadata) is that network's east-west gateway (Istio's class is
 *       {@code istio-east-west}; the label is what counts). Its first {@code spec.addresses} IP and the port of its
 *       {@value #HBONE} listener become the {@code network_gateway} of every workload on the network. istiod reads
 *       the address from the Gateway's status; jmesh has no controller writing status, so the spec says it.
 *   <li>When several Gateways claim one network, the first usable one by namespace, then name, serves it; the
 *       others are reported.
 * </ul>
 *
 * <p>Immutable once chosen.
 */
public final class NetworkGateways {

    /** On a Namespace: the network of its workloads. On a Gateway: the network it is the east-west gateway of. */
    public static final String LABEL = "topology.istio.io/network";

    /** The listener protocol of Istio's east-west gateway (its {@code mesh} listener, port 15008). */
    public static final String HBONE = "HBONE";

    private final Map<String, ConfigRecord> gateways;
    private final Map<String, GatewayAddress> addresses;

    private NetworkGateways(Map<String, ConfigRecord> gateways, Map<String, GatewayAddress> addresses) {
        this.gateways = gateways;
        this.addresses = addresses;
    }

    /**
     * The network of a WorkloadEntry: its own, else its namespace's label, else the cluster's; empty for the default
     * network.
     *
     * @param clusterNetwork {@link #clusterNetwork} of the root namespace
     */
    public static String networkOf(WorkloadEntrySpec spec, ConfigRecord namespace, String clusterNetwork) {
        if (!spec.getNetwork().isEmpty()) {
            return spec.getNetwork();
        }
        String own = labelOf(namespace);
        return own.isEmpty() ? clusterNetwork : own;
    }

    /**
     * Whether a WorkloadEntry in {@code namespace} is on the cluster's network for want of a network of its own
     * (so a change of the cluster's network changes it).
     */
    public static boolean onClusterNetwork(WorkloadEntrySpec spec, ConfigRecord namespace) {
        return spec.getNetwork().isEmpty() && labelOf(namespace).isEmpty();
    }

    /**
     * The cluster's network: the {@value #LABEL} label of the root (system) namespace, empty when it has none (or
     * does not exist). Service VIPs are on it, and the workloads without a network of their own.
     */
    public static String clusterNetwork(ConfigRecord rootNamespace) {
        return labelOf(rootNamespace);
    }

    private static String labelOf(ConfigRecord namespace) {
        return namespace == null ? "" : namespace.getMetadata().getLabelsMap().getOrDefault(LABEL, "");
    }

    /** The network a Gateway is the east-west gateway of; empty when it is none's. */
    public static String claimedNetwork(ConfigRecord gateway) {
        return gateway.getMetadata().getLabelsMap().getOrDefault(LABEL, "");
    }

    /**
     * Chooses each network's gateway.
     *
     * @param gateways every Gateway, sorted by namespace then name (the order that decides between claimants)
     */
    public static NetworkGateways choose(Iterable<ConfigRecord> gateways) {
        Map<String, ConfigRecord> chosen = new HashMap<>();
        Map<String, GatewayAddress> addresses = new HashMap<>();
        for (ConfigRecord g : gateways) {
            String network = claimedNetwork(g);
            if (network.isEmpty() || chosen.containsKey(network)) {
                continue;
            }
            try {
                addresses.put(network, address(g, network));
                chosen.put(network, g);
            } catch (IllegalArgumentException e) {
                // unusable (it bypassed validation): the next claimant serves; whyNotChosen reports it
            }
        }
        return new NetworkGateways(chosen, addresses);
    }

    /** The Gateway serving {@code network}; null when it has none (the default network never has one). */
    public ConfigRecord gatewayOf(String network) {
        return gateways.get(network);
    }

    /** The {@code network_gateway} of the workloads on {@code network}; null when it has no gateway. */
    public GatewayAddress addressOf(String network) {
        return addresses.get(network);
    }

    /** Why a Gateway claiming a network does not serve it; null when it does, or claims none. */
    public String whyNotChosen(ConfigRecord gateway) {
        String network = claimedNetwork(gateway);
        ConfigRecord chosen = gateways.get(network);
        if (network.isEmpty() || chosen == gateway) {
            return null;
        }
        try {
            address(gateway, network);
        } catch (IllegalArgumentException e) {
            return "untranslatable: " + e.getMessage();
        }
        return "network '" + network + "' already has its east-west gateway: Gateway "
                + chosen.getMetadata().getNamespace() + "/" + chosen.getMetadata().getName()
                + " (the first by namespace and name)";
    }

    /** @throws IllegalArgumentException what the Gateway lacks to serve as a network gateway */
    private static GatewayAddress address(ConfigRecord gateway, String network) {
        GatewaySpec spec = gateway.getGateway();
        if (spec.getAddressesCount() == 0) {
            throw new IllegalArgumentException("network gateway without an IP address (spec.addresses)");
        }
        if (spec.getHbonePort() < 1 || spec.getHbonePort() > 65535) {
            throw new IllegalArgumentException("network gateway without an " + HBONE + " listener port in"
                    + " spec.listeners (found: " + spec.getHbonePort() + ", expected: 1-65535)");
        }
        InetAddress ip = IpLiteral.parse(spec.getAddresses(0));
        if (ip == null) {
            throw new IllegalArgumentException("'" + spec.getAddresses(0) + "' is not an IP address");
        }
        return GatewayAddress.newBuilder()
                .setAddress(NetworkAddress.newBuilder().setNetwork(network)
                        .setAddress(ByteString.copyFrom(ip.getAddress())))
                .setHboneMtlsPort(spec.getHbonePort()).build();
    }
}
