package io.jmesh.localmesh.run;

/**
 * Where every component of the local mesh listens: each on its own loopback address, with Istio's ports, so
 * two services can use the same port number (every control-plane admin endpoint is 15014) without clashing.
 */
public final class Layout {

    public static final String KAFKA = "127.0.1.9";
    public static final int KAFKA_PORT = 9092;
    public static final int KAFKA_CONTROLLER_PORT = 9093;
    public static final String CA = "127.0.1.1";
    public static final String POLICY = "127.0.1.2";
    public static final String TELEMETRY = "127.0.1.3";
    public static final String WAYPOINT_MGR = "127.0.1.4";
    public static final int ADMIN_PORT = 15014;
    public static final int CA_PORT = 15012;
    public static final int XDS_PORT = 15010;

    /** The two nodes: name, ztunnel address, and the local admin port (15000 on node-a, 15100 on node-b). */
    public record Node(String name, String address, int localAdminPort) {}

    public static final Node NODE_A = new Node("node-a", "127.0.10.1", 15000);
    public static final Node NODE_B = new Node("node-b", "127.0.20.1", 15100);

    public static final String TRUST_DOMAIN = "cluster.local";
    public static final String PRODUCTPAGE = "127.0.10.11";
    public static final String SLEEP = "127.0.10.12";
    public static final String REVIEWS = "127.0.20.11";
    public static final String ECHO = "127.0.20.12";
    public static final String REVIEWS_HOST = "reviews.default.svc.cluster.local";
    /** The reviews Service's VIP; a loopback address, so nothing addressed to it can leave the machine. */
    public static final String REVIEWS_VIP = "127.0.100.20";

    private Layout() {}
}
