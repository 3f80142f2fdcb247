package io.jmesh.ztunnel.capture;

import java.net.Inet4Address;
import java.net.InetAddress;
import java.util.Collection;
import java.util.List;
import java.util.Objects;
import java.util.stream.Collectors;

/**
 * The nftables text of transparent capture (Istio's marks), pure and testable: one table of ztunnel's own, two
 * sets of ambient pod addresses (IPv4, IPv6), and two chains.
 *
 * <ul>
 *   <li>{@code output}: a packet of one of ztunnel's sockets ({@code meta mark} = the socket mark) marks its
 *       connection ({@code ct mark} = the capture mark), so the replies to ztunnel's spoofed sockets are known;</li>
 *   <li>{@code prerouting}: a packet of such a connection gets the capture mark and is accepted (policy routing
 *       delivers it locally); TCP from an ambient pod is TPROXY'd to the capture port (15001); TCP to an ambient
 *       pod's HBONE port to 15008; other TCP to an ambient pod to the inbound plaintext port (15006).</li>
 * </ul>
 *
 * The capture mark routes through table {@code routeTable} ({@code local 0.0.0.0/0 dev lo}), see {@link
 * PolicyRouting}. Nothing else of the namespace's ruleset is touched: the table is replaced and removed as a unit.
 */
public final class CaptureRules {

    /**
     * Settings the rule text depends on.
     *
     * @param dnsPort the DNS proxy's port: the ambient pods' DNS (UDP and TCP to port 53, any server) is
     *     DNAT'ed to it; 0 or less leaves DNS alone
     * @param listenAddress where ztunnel's listeners are bound (the node address): TPROXY hands connections of its
     *     family to that address, and those of the other family to that family's loopback ({@link #twin}), where
     *     ztunnel binds the same listeners; null (or a wildcard) for the address of the interface a packet arrives
     *     on (TPROXY's default)
     * @param dualStackAddress the node's address of the other family, where the DNS proxy also listens (null: none):
     *     that family's pod DNS is DNAT'ed to it (DNAT to the loopback would not be delivered)
     */
    public record Settings(String table, int socketMark, int captureMark, String podInterface, int outboundPort,
            int hbonePort, int inboundPlaintextPort, int dnsPort, InetAddress listenAddress,
            InetAddress dualStackAddress) {
        public Settings {
            Objects.requireNonNull(table, "table");
            if (!table.matches("[A-Za-z][A-Za-z0-9_-]{0,31}")) {
                throw new IllegalArgumentException("table: '" + table + "' (expected: a letter, then letters, "
                        + "digits, '_' or '-', at most 32)");
            }
            podInterface = podInterface == null ? "" : podInterface;
            if (!podInterface.isEmpty() && !podInterface.matches("[A-Za-z0-9_.-]{1,15}")) {
                throw new IllegalArgumentException("podInterface: '" + podInterface
                        + "' (expected: an interface name of at most 15 characters)");
            }
            if (socketMark <= 0 || captureMark <= 0 || socketMark == captureMark) {
                throw new IllegalArgumentException("socketMark " + socketMark + ", captureMark " + captureMark
                        + " (expected: two different marks > 0)");
            }
        }

        /** A single-stack node. */
        public Settings(String table, int socketMark, int captureMark, String podInterface, int outboundPort,
                int hbonePort, int inboundPlaintextPort, int dnsPort, InetAddress listenAddress) {
            this(table, socketMark, captureMark, podInterface, outboundPort, hbonePort, inboundPlaintextPort, dnsPort,
                    listenAddress, null);
        }
    }

    static final String SET4 = "ambient4";
    static final String SET6 = "ambient6";

    private final Settings s;

    public CaptureRules(Settings settings) {
        this.s = Objects.requireNonNull(settings, "settings");
    }

    public Settings settings() {
        return s;
    }

    /**
     * Creates (or replaces) ztunnel's table with empty sets, in one transaction: {@code add} makes the following
     * {@code delete} valid when the table does not exist yet.
     */
    public String install() {
        String fromPod = s.podInterface().isEmpty() ? "iifname != \"lo\" " : "iifname \"" + s.podInterface() + "\" ";
        String toPod = s.podInterface().isEmpty() ? "" : "iifname != \"" + s.podInterface() + "\" ";
        String mark = hex(s.captureMark());
        StringBuilder b = new StringBuilder();
        b.append("add table inet ").append(s.table()).append('\n');
        b.append("delete table inet ").append(s.table()).append('\n');
        b.append("table inet ").append(s.table()).append(" {\n");
        b.append("  set ").append(SET4).append(" { type ipv4_addr; }\n");
        b.append("  set ").append(SET6).append(" { type ipv6_addr; }\n");
        b.append("  chain output {\n");
        b.append("    type route hook output priority mangle; policy accept;\n");
        b.append("    meta mark ").append(hex(s.socketMark())).append(" ct mark set ").append(mark).append('\n');
        for (String[] fam : new String[][] {{"ip", SET4}, {"ip6", SET6}}) {
            // ztunnel's own HBONE dial to a pod on this node (a same-node tunnel): route it to the local table, so
            // it loops back through prerouting, where TPROXY hands it to our 15008 with the pod as local address
            b.append("    meta mark ").append(hex(s.socketMark())).append(" meta l4proto tcp ").append(fam[0])
                    .append(" daddr @").append(fam[1]).append(" tcp dport ").append(s.hbonePort())
                    .append(" meta mark set ").append(mark).append('\n');
        }
        b.append("  }\n");
        b.append("  chain prerouting {\n");
        b.append("    type filter hook prerouting priority mangle; policy accept;\n");
        for (String[] fam : new String[][] {{"ip", SET4}, {"ip6", SET6}}) {
            // the same-node tunnel looped back by the output chain (before the conntrack rule, which it also
            // carries): TPROXY to our 15008, so the certificate is picked by the pod address
            b.append("    iifname \"lo\" meta l4proto tcp ").append(fam[0]).append(" daddr @").append(fam[1])
                    .append(" tcp dport ").append(s.hbonePort()).append(" tproxy ").append(fam[0]).append(" to ")
                    .append(to(fam[0], s.hbonePort())).append(" meta mark set ").append(mark).append(" accept\n");
        }
        // replies to ztunnel's own (spoofed) sockets: deliver locally, never capture
        b.append("    ct mark ").append(mark).append(" meta mark set ").append(mark).append(" accept\n");
        for (String[] fam : new String[][] {{"ip", SET4}, {"ip6", SET6}}) {
            String f = fam[0];
            String set = "@" + fam[1];
            if (capturesDns(f)) {
                // DNS over TCP is the dns chain's (DNAT), not the outbound listener's
                b.append("    ").append(fromPod).append("meta l4proto tcp ").append(f).append(" saddr ").append(set)
                        .append(" tcp dport 53 accept\n");
            }
            // outbound: anything a pod sends, except to the node itself
            b.append("    ").append(fromPod).append("meta l4proto tcp ").append(f).append(" saddr ").append(set)
                    .append(" fib daddr type != local tproxy ").append(f).append(" to ").append(to(f, s.outboundPort()))
                    .append(" meta mark set ").append(mark).append(" accept\n");
            // tproxy falls through to the next rule when no listener of ztunnel's is there (crashed, draining,
            // not bound yet): without these drops the packet went on as it was, plaintext, past every policy. A
            // dropped SYN is sent again, and a ztunnel listening by then takes it
            b.append("    ").append(fromPod).append("meta l4proto tcp ").append(f).append(" saddr ").append(set)
                    .append(" fib daddr type != local drop\n");
            // inbound: HBONE to a pod's 15008, everything else plaintext
            b.append("    ").append(toPod).append("meta l4proto tcp ").append(f).append(" daddr ").append(set)
                    .append(" tcp dport ").append(s.hbonePort()).append(" tproxy ").append(f).append(" to ")
                    .append(to(f, s.hbonePort())).append(" meta mark set ").append(mark).append(" accept\n");
            b.append("    ").append(toPod).append("meta l4proto tcp ").append(f).append(" daddr ").append(set)
                    .append(" tproxy ").append(f).append(" to ").append(to(f, s.inboundPlaintextPort()))
                    .append(" meta mark set ").append(mark).append(" accept\n");
            b.append("    ").append(toPod).append("meta l4proto tcp ").append(f).append(" daddr ").append(set)
                    .append(" drop\n");
        }
        b.append("  }\n");
        if (s.dnsPort() > 0) {
            // the ambient pods' DNS, to whatever server they ask, goes to the DNS proxy; conntrack maps the answers
            // back. Before other NAT (kube-proxy's service DNAT is at dstnat, -100)
            b.append("  chain dns {\n");
            b.append("    type nat hook prerouting priority -110; policy accept;\n");
            for (String[] fam : new String[][] {{"ip", SET4}, {"ip6", SET6}}) {
                if (capturesDns(fam[0])) {
                    b.append("    ").append(fromPod).append(fam[0]).append(" saddr @").append(fam[1])
                            .append(" meta l4proto { tcp, udp } th dport 53 ").append(dnsTarget(fam[0])).append('\n');
                }
            }
            b.append("  }\n");
        }
        b.append("}\n");
        return b.toString();
    }

    /** DNS of family {@code f} is captured when the proxy listens on an address of that family (or any). */
    private boolean capturesDns(String f) {
        return s.dnsPort() > 0 && (dnsAddress(f) != null || s.listenAddress() == null
                || s.listenAddress().isAnyLocalAddress());
    }

    /** Where family {@code f}'s DNS proxy listens: the node address or the dual-stack one of that family, or null. */
    private InetAddress dnsAddress(String f) {
        for (InetAddress a : new InetAddress[] {s.listenAddress(), s.dualStackAddress()}) {
            if (a != null && !a.isAnyLocalAddress() && (a instanceof Inet4Address) == f.equals("ip")) {
                return a;
            }
        }
        return null;
    }

    private String dnsTarget(String f) {
        InetAddress a = dnsAddress(f);
        if (a == null) {
            return "redirect to :" + s.dnsPort();
        }
        return "dnat " + f + " to " + io.jmesh.core.net.IpLiteral.hostPort(a, s.dnsPort());
    }

    /** Replaces the pod address sets in one transaction. */
    public String sync(Collection<InetAddress> pods) {
        List<InetAddress> sorted = pods.stream().sorted((x, y) -> x.getHostAddress().compareTo(y.getHostAddress()))
                .toList();
        String v4 = sorted.stream().filter(a -> a instanceof Inet4Address).map(InetAddress::getHostAddress)
                .collect(Collectors.joining(", "));
        String v6 = sorted.stream().filter(a -> !(a instanceof Inet4Address)).map(InetAddress::getHostAddress)
                .collect(Collectors.joining(", "));
        StringBuilder b = new StringBuilder();
        b.append("flush set inet ").append(s.table()).append(' ').append(SET4).append('\n');
        b.append("flush set inet ").append(s.table()).append(' ').append(SET6).append('\n');
        if (!v4.isEmpty()) {
            b.append("add element inet ").append(s.table()).append(' ').append(SET4).append(" { ").append(v4)
                    .append(" }\n");
        }
        if (!v6.isEmpty()) {
            b.append("add element inet ").append(s.table()).append(' ').append(SET6).append(" { ").append(v6)
                    .append(" }\n");
        }
        return b.toString();
    }

    /** Lists the table with its handle ({@code nft -a}): {@link #handle} reads it. */
    public String list() {
        return "list table inet " + s.table() + "\n";
    }

    /**
     * The handle of the table in an {@code nft -a} listing ({@code table inet jmesh { # handle 12}); -1 without one.
     * A table created again (by another ztunnel on the node) has a new handle.
     */
    public long handle(String listing) {
        String head = "table inet " + s.table() + " { # handle ";
        for (String line : listing.lines().toList()) {
            if (line.startsWith(head)) {
                try {
                    return Long.parseLong(line.substring(head.length()).strip());
                } catch (NumberFormatException e) {
                    return -1;
                }
            }
        }
        return -1;
    }

    /** Removes the table only if it is still the one with {@code handle}: fails (ENOENT) once it was replaced. */
    public String remove(long handle) {
        return "delete table inet handle " + handle + "\n";
    }

    /** Removes the table (and with it every rule and set); valid whether or not it exists. */
    public String remove() {
        return "add table inet " + s.table() + "\ndelete table inet " + s.table() + "\n";
    }

    /**
     * Where the capture listeners of the other family than {@code listenAddress}'s are bound: its loopback ({@code
     * ::1} for an IPv4 node address, {@code 127.0.0.1} for an IPv6 one); null for a wildcard or no address. TPROXY
     * only hands a packet to a socket of its own family, and a node address has one: without these listeners an
     * IPv6 pod's traffic found no socket, matched no rule, and was forwarded as it was, outside the mesh.
     */
    public static InetAddress twin(InetAddress listenAddress) {
        if (listenAddress == null || listenAddress.isAnyLocalAddress()) {
            return null;
        }
        return io.jmesh.core.net.IpLiteral.parse(listenAddress instanceof Inet4Address ? "::1" : "127.0.0.1");
    }

    /** {@code addr:port}: the listeners' address for family {@code f}, its twin for the other; {@code :port} without. */
    private String to(String f, int port) {
        InetAddress a = s.listenAddress();
        if (a != null && (a instanceof Inet4Address) != f.equals("ip")) {
            a = twin(a);
        }
        if (a == null || a.isAnyLocalAddress()) {
            return ":" + port;
        }
        return io.jmesh.core.net.IpLiteral.hostPort(a, port); // [fd10::1]:15008: nft reads the short form
    }

    static String hex(int mark) {
        return "0x" + Integer.toHexString(mark);
    }
}
