package io.jmesh.testing.netns;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Two "nodes" and two "pods" on each, all Linux network namespaces made by the test and joined by veth pairs,
 * with no link to the machine's own namespace (so no route out of the machine exists):
 *
 * <pre>
 *   pod-a1 10.10.1.11 ─┐                                      ┌─ pod-b1 10.10.2.11
 *                      ├─ br0 10.10.1.1  node-a  ═══ wire ═══  node-b  br0 10.10.2.1 ─┼─ pod-b2 10.10.2.12
 *   pod-a2 10.10.1.12 ─┘           wire 10.200.0.1   10.200.0.2                      └─ pod-b3 10.10.2.13
 * </pre>
 *
 * Everything is dual-stack: each address above has an IPv6 twin ({@link #address6}: pod-a1 is {@code fd10:10:1::11},
 * node-a's bridge {@code fd10:10:1::1}, its wire end {@code fd10:200::1}). Pods have /32 (/128) addresses and route
 * everything via their node's bridge address (an on-link route to it, then the default route), so even traffic
 * between two pods of one node is routed by the node, through its IP hooks, where transparent capture can take it;
 * nodes send no ICMP redirects, forward, and route the other node's pod range over the wire. Duplicate address
 * detection is off, so IPv6 addresses are usable at once. Everything is removed by {@link #close()}, also when setup fails half-way; a JVM shutdown hook is the
 * last resort.
 */
public final class TwoNodeLab implements AutoCloseable {

    public static final String NODE_A_WIRE = "10.200.0.1";
    public static final String NODE_B_WIRE = "10.200.0.2";
    public static final String NODE_A_BRIDGE = "10.10.1.1";
    public static final String NODE_B_BRIDGE = "10.10.2.1";
    public static final String NODE_A_WIRE6 = "fd10:200::1";
    public static final String NODE_B_WIRE6 = "fd10:200::2";
    public static final String NODE_A_BRIDGE6 = "fd10:10:1::1";
    public static final String NODE_B_BRIDGE6 = "fd10:10:2::1";
    /** The interface of each node that faces the other node (capture here to see what crosses nodes). */
    public static final String WIRE_INTERFACE = "wire0";

    private final String prefix;
    private final List<Netns> all = new ArrayList<>();
    private final Path workDir;
    private final Thread hook;
    private final Netns nodeA;
    private final Netns nodeB;
    private final Netns podA1;
    private final Netns podA2;
    private final Netns podB1;
    private final Netns podB2;
    private final Netns podB3;
    private boolean closed;

    private TwoNodeLab(String prefix, Path workDir) {
        this.prefix = prefix;
        this.workDir = workDir;
        this.hook = new Thread(this::removeAll, "netns-lab-cleanup");
        Runtime.getRuntime().addShutdownHook(hook);
        try {
            nodeA = node("node-a", NODE_A_BRIDGE, NODE_A_BRIDGE6);
            nodeB = node("node-b", NODE_B_BRIDGE, NODE_B_BRIDGE6);
            wire(nodeA, nodeB);
            podA1 = pod("pod-a1", nodeA, NODE_A_BRIDGE, NODE_A_BRIDGE6);
            podA2 = pod("pod-a2", nodeA, NODE_A_BRIDGE, NODE_A_BRIDGE6);
            podB1 = pod("pod-b1", nodeB, NODE_B_BRIDGE, NODE_B_BRIDGE6);
            podB2 = pod("pod-b2", nodeB, NODE_B_BRIDGE, NODE_B_BRIDGE6);
            podB3 = pod("pod-b3", nodeB, NODE_B_BRIDGE, NODE_B_BRIDGE6);
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /**
     * Builds the lab. Call {@link #unavailableReason()} first: this needs root and {@code ip netns}.
     *
     * @param workDir where process logs go
     */
    public static TwoNodeLab create(Path workDir) {
        String prefix = "jm" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0xffff));
        return new TwoNodeLab(prefix, workDir);
    }

    /** Why a lab cannot be built here (not root, no iproute2, namespaces refused), or null when it can. */
    public static String unavailableReason() {
        if (!"root".equals(System.getProperty("user.name")) && !isUid0()) {
            return "network namespaces need root (CI runs as root); running as " + System.getProperty("user.name");
        }
        Netns.Result ip = Netns.execResult(List.of("ip", "-V"), 10);
        if (!ip.ok()) {
            return "iproute2's `ip` is not installed (Debian package iproute2)";
        }
        String probe = "jmprobe" + ProcessHandle.current().pid();
        Netns.Result add = Netns.execResult(List.of("ip", "netns", "add", probe), 10);
        if (!add.ok()) {
            return "`ip netns add` is refused here: " + add.output().strip();
        }
        Netns.execResult(List.of("ip", "netns", "del", probe), 10);
        return null;
    }

    private static boolean isUid0() {
        try {
            return Files.readString(Path.of("/proc/self/status")).lines()
                    .filter(l -> l.startsWith("Uid:")).anyMatch(l -> l.split("\\s+")[1].equals("0"));
        } catch (java.io.IOException e) {
            return false;
        }
    }

    public Netns nodeA() {
        return nodeA;
    }

    public Netns nodeB() {
        return nodeB;
    }

    public Netns podA1() {
        return podA1;
    }

    public Netns podA2() {
        return podA2;
    }

    public Netns podB1() {
        return podB1;
    }

    public Netns podB2() {
        return podB2;
    }

    /** A third pod on node-b: a neighbour of pod-b1 and pod-b2 on the same node. */
    public Netns podB3() {
        return podB3;
    }

    /** The prefix of every namespace of this lab ({@code ip netns list | grep <prefix>}). */
    public String prefix() {
        return prefix;
    }

    /** Where process logs go. */
    public Path workDir() {
        return workDir;
    }

    /** A pod's address: {@code 10.10.1.11} for pod-a1 and so on. */
    public static String address(String pod) {
        return switch (pod) {
            case "pod-a1" -> "10.10.1.11";
            case "pod-a2" -> "10.10.1.12";
            case "pod-b1" -> "10.10.2.11";
            case "pod-b2" -> "10.10.2.12";
            case "pod-b3" -> "10.10.2.13";
            default -> throw new IllegalArgumentException("pod: " + pod + " (expected pod-a1, pod-a2, pod-b1, pod-b2, pod-b3)");
        };
    }

    /** A pod's IPv6 address: {@code fd10:10:1::11} for pod-a1 and so on (the IPv4 address's last two octets). */
    public static String address6(String pod) {
        String[] v4 = address(pod).split("\\.");
        return "fd10:10:" + v4[2] + "::" + v4[3];
    }

    private Netns namespace(String role) {
        Netns ns = new Netns(prefix + "-" + role);
        Netns.exec(List.of("ip", "netns", "add", ns.name()));
        all.add(ns);
        // before any interface exists, so every one inherits it: addresses usable at once, no router adverts
        ns.run("sysctl", "-q", "-w", "net.ipv6.conf.all.accept_dad=0");
        ns.run("sysctl", "-q", "-w", "net.ipv6.conf.default.accept_dad=0");
        ns.run("sysctl", "-q", "-w", "net.ipv6.conf.default.accept_ra=0");
        // a node forwarding between two pods of its bridge sends ICMPv6 redirects (IPv6 has no switch to stop
        // them): pods must not follow them past the node (and past capture)
        ns.run("sysctl", "-q", "-w", "net.ipv6.conf.all.accept_redirects=0");
        ns.run("sysctl", "-q", "-w", "net.ipv6.conf.default.accept_redirects=0");
        ns.run("ip", "link", "set", "lo", "up");
        return ns;
    }

    private Netns node(String role, String bridgeAddress, String bridgeAddress6) {
        Netns node = namespace(role);
        node.run("sysctl", "-q", "-w", "net.ipv4.ip_forward=1");
        node.run("sysctl", "-q", "-w", "net.ipv6.conf.all.forwarding=1");
        // a redirect would tell a pod to reach its neighbour directly, bypassing the node (and capture)
        node.run("sysctl", "-q", "-w", "net.ipv4.conf.all.send_redirects=0");
        node.run("sysctl", "-q", "-w", "net.ipv4.conf.default.send_redirects=0");
        // where br_netfilter is loaded (Docker hosts), frames crossing br0 would run the IP hooks at the bridge
        // level too, and a TPROXY decision taken there is lost before the packet reaches the node's IP stack; the
        // pods' traffic is routed by the node anyway. Per namespace; absent without br_netfilter.
        node.tryRun("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-iptables=0");
        node.tryRun("sysctl", "-q", "-w", "net.bridge.bridge-nf-call-ip6tables=0");
        node.run("ip", "link", "add", "br0", "type", "bridge");
        node.run("ip", "addr", "add", bridgeAddress + "/24", "dev", "br0");
        node.run("ip", "-6", "addr", "add", bridgeAddress6 + "/64", "dev", "br0", "nodad");
        node.run("ip", "link", "set", "br0", "up");
        return node;
    }

    private void wire(Netns a, Netns b) {
        // created in node-a, one end moved to node-b: both ends are called wire0
        a.run("ip", "link", "add", WIRE_INTERFACE, "type", "veth", "peer", "name", "wire0b");
        a.run("ip", "link", "set", "wire0b", "netns", b.name());
        b.run("ip", "link", "set", "wire0b", "name", WIRE_INTERFACE);
        a.run("ip", "addr", "add", NODE_A_WIRE + "/24", "dev", WIRE_INTERFACE);
        b.run("ip", "addr", "add", NODE_B_WIRE + "/24", "dev", WIRE_INTERFACE);
        a.run("ip", "-6", "addr", "add", NODE_A_WIRE6 + "/64", "dev", WIRE_INTERFACE, "nodad");
        b.run("ip", "-6", "addr", "add", NODE_B_WIRE6 + "/64", "dev", WIRE_INTERFACE, "nodad");
        a.run("ip", "link", "set", WIRE_INTERFACE, "up");
        b.run("ip", "link", "set", WIRE_INTERFACE, "up");
        a.run("ip", "route", "add", "10.10.2.0/24", "via", NODE_B_WIRE);
        b.run("ip", "route", "add", "10.10.1.0/24", "via", NODE_A_WIRE);
        a.run("ip", "-6", "route", "add", "fd10:10:2::/64", "via", NODE_B_WIRE6);
        b.run("ip", "-6", "route", "add", "fd10:10:1::/64", "via", NODE_A_WIRE6);
    }

    private Netns pod(String role, Netns node, String gateway, String gateway6) {
        String address = address(role);
        Netns pod = namespace(role);
        String hostSide = "v" + role.replace("pod-", "");          // e.g. va1, on the node's bridge
        node.run("ip", "link", "add", hostSide, "type", "veth", "peer", "name", "eth0p");
        node.run("ip", "link", "set", "eth0p", "netns", pod.name());
        node.run("ip", "link", "set", hostSide, "master", "br0");
        node.run("ip", "link", "set", hostSide, "up");
        pod.run("ip", "link", "set", "eth0p", "name", "eth0");
        pod.run("ip", "addr", "add", address + "/32", "dev", "eth0");
        pod.run("ip", "link", "set", "eth0", "up");
        pod.run("ip", "route", "add", gateway, "dev", "eth0", "scope", "link");
        pod.run("ip", "route", "add", "default", "via", gateway, "dev", "eth0");
        pod.run("ip", "-6", "addr", "add", address6(role) + "/128", "dev", "eth0", "nodad");
        pod.run("ip", "-6", "route", "add", gateway6, "dev", "eth0");
        pod.run("ip", "-6", "route", "add", "default", "via", gateway6, "dev", "eth0");
        return pod;
    }

    private synchronized void removeAll() {
        if (closed) {
            return;
        }
        closed = true;
        for (Netns ns : all) {
            ns.stopProcesses();
        }
        for (Netns ns : all) {
            Netns.execResult(List.of("ip", "netns", "del", ns.name()), 10);
        }
    }

    /** Stops every process started in the lab and deletes every namespace (with their links). */
    @Override
    public void close() {
        removeAll();
        try {
            Runtime.getRuntime().removeShutdownHook(hook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running or about to; it does the same work
        }
    }
}
