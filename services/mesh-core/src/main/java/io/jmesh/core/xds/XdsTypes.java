package io.jmesh.core.xds;

import io.netty.util.NetUtil;
import java.net.InetAddress;

/** What policy's delta ADS server and ztunnel's client agree on beyond Istio's protos. */
public final class XdsTypes {

    /** Istio's workload discovery type (workloads and services). */
    public static final String ADDRESS = "type.googleapis.com/istio.workload.Address";
    /** Istio's L4 authorization policy type. */
    public static final String AUTHORIZATION = "type.googleapis.com/istio.security.Authorization";

    /**
     * Ends the {@code system_version_info} of a response that is one part of a snapshot split across responses
     * (more parts follow once it is ACKed). A client counts its first configuration complete only at a response
     * without it; Istio's servers never split, so every response of theirs is complete.
     */
    public static final String PARTIAL_SUFFIX = "+partial";

    private XdsTypes() {}

    /**
     * The on-demand alias of an address (Istio's {@code network/IP}): what a client subscribes to when a lookup by
     * IP misses, and what the server lists in the {@code aliases} of the workload or service that holds it. The IP
     * is written in its canonical form (IPv6 per RFC 5952), so both sides spell it alike; the default network is
     * the empty string ({@code /10.0.0.1}).
     */
    public static String ipAlias(String network, InetAddress ip) {
        return network + "/" + NetUtil.toAddressString(ip);
    }

    /** The on-demand alias of a service hostname (Istio's {@code namespace/hostname}, also the service's name). */
    public static String hostnameAlias(String namespace, String hostname) {
        return namespace + "/" + hostname;
    }

    /** Whether a response with this {@code system_version_info} leaves parts of its snapshot to come. */
    public static boolean partial(String systemVersionInfo) {
        return systemVersionInfo != null && systemVersionInfo.endsWith(PARTIAL_SUFFIX);
    }
}
