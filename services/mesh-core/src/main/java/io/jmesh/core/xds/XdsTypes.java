package io.jmesh.core.xds;

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

    /** Whether a response with this {@code system_version_info} leaves parts of its snapshot to come. */
    public static boolean partial(String systemVersionInfo) {
        return systemVersionInfo != null && systemVersionInfo.endsWith(PARTIAL_SUFFIX);
    }
}
