package io.jmesh.ztunnel.authz;

import io.jmesh.proto.istio.security.Match;
import io.jmesh.proto.istio.security.ServiceAccountMatch;

/**
 * One compiled {@link Match}: every populated field must match, values within a field are OR-ed, a {@code not_*}
 * list must not match; a match with no populated field never matches.
 */
final class CompiledMatch {

    private static final StringMatcher[] NO_STRINGS = {};

    private final StringMatcher[] namespaces;
    private final StringMatcher[] notNamespaces;
    private final StringMatcher[] principals;
    private final StringMatcher[] notPrincipals;
    private final Cidr[] sourceIps;
    private final Cidr[] notSourceIps;
    private final Cidr[] destinationIps;
    private final Cidr[] notDestinationIps;
    private final int[] ports;
    private final int[] notPorts;
    private final ServiceAccountMatch[] serviceAccounts;
    private final ServiceAccountMatch[] notServiceAccounts;
    private final boolean empty;

    private CompiledMatch(Match m, String path) {
        namespaces = strings(m.getNamespacesList(), path + ".namespaces");
        notNamespaces = strings(m.getNotNamespacesList(), path + ".not_namespaces");
        principals = strings(m.getPrincipalsList(), path + ".principals");
        notPrincipals = strings(m.getNotPrincipalsList(), path + ".not_principals");
        sourceIps = cidrs(m.getSourceIpsList(), path + ".source_ips");
        notSourceIps = cidrs(m.getNotSourceIpsList(), path + ".not_source_ips");
        destinationIps = cidrs(m.getDestinationIpsList(), path + ".destination_ips");
        notDestinationIps = cidrs(m.getNotDestinationIpsList(), path + ".not_destination_ips");
        ports = ports(m.getDestinationPortsList(), path + ".destination_ports");
        notPorts = ports(m.getNotDestinationPortsList(), path + ".not_destination_ports");
        serviceAccounts = m.getServiceAccountsList().toArray(ServiceAccountMatch[]::new);
        notServiceAccounts = m.getNotServiceAccountsList().toArray(ServiceAccountMatch[]::new);
        empty = namespaces.length + notNamespaces.length + principals.length + notPrincipals.length
                + sourceIps.length + notSourceIps.length + destinationIps.length + notDestinationIps.length
                + ports.length + notPorts.length + serviceAccounts.length + notServiceAccounts.length == 0;
    }

    static CompiledMatch compile(Match m, String path) {
        return new CompiledMatch(m, path);
    }

    boolean matches(Peer p) {
        if (empty) {
            return false;
        }
        // cheap integer checks first
        if (ports.length > 0 && !containsPort(ports, p.destinationPort())) {
            return false;
        }
        if (notPorts.length > 0 && containsPort(notPorts, p.destinationPort())) {
            return false;
        }
        if (principals.length > 0 && !StringMatcher.any(principals, p.principal())) {
            return false;
        }
        if (notPrincipals.length > 0 && StringMatcher.any(notPrincipals, p.principal())) {
            return false;
        }
        if (namespaces.length > 0 && !StringMatcher.any(namespaces, p.namespace())) {
            return false;
        }
        if (notNamespaces.length > 0 && StringMatcher.any(notNamespaces, p.namespace())) {
            return false;
        }
        if (sourceIps.length > 0 && !Cidr.any(sourceIps, p.sourceIp())) {
            return false;
        }
        if (notSourceIps.length > 0 && Cidr.any(notSourceIps, p.sourceIp())) {
            return false;
        }
        if (destinationIps.length > 0 && !Cidr.any(destinationIps, p.destinationIp())) {
            return false;
        }
        if (notDestinationIps.length > 0 && Cidr.any(notDestinationIps, p.destinationIp())) {
            return false;
        }
        if (serviceAccounts.length > 0 && !anyServiceAccount(serviceAccounts, p)) {
            return false;
        }
        return notServiceAccounts.length == 0 || !anyServiceAccount(notServiceAccounts, p);
    }

    /**
     * The principal matchers one of which this match requires (exact, prefix or suffix: each can be indexed), or
     * null when it can match principals no such matcher names (no principal constraint, or presence).
     */
    StringMatcher[] requiredPrincipals() {
        if (principals.length == 0) {
            return null;
        }
        for (StringMatcher m : principals) {
            if (m.kind() == StringMatcher.Kind.PRESENCE) {
                return null;
            }
        }
        return principals;
    }

    /** The exact peer namespaces this match requires, or null when it can match other namespaces too. */
    String[] requiredNamespaces() {
        return requiredExact(namespaces);
    }

    /** The destination ports this match requires, or null when any port can match. */
    int[] requiredPorts() {
        return ports.length == 0 ? null : ports;
    }

    private static String[] requiredExact(StringMatcher[] matchers) {
        if (matchers.length == 0) {
            return null;
        }
        String[] out = new String[matchers.length];
        for (int i = 0; i < matchers.length; i++) {
            if (matchers[i].kind() != StringMatcher.Kind.EXACT) {
                return null;
            }
            out[i] = matchers[i].value();
        }
        return out;
    }

    private static boolean containsPort(int[] ports, int port) {
        for (int p : ports) {
            if (p == port) {
                return true;
            }
        }
        return false;
    }

    private static boolean anyServiceAccount(ServiceAccountMatch[] accounts, Peer p) {
        if (p.serviceAccount() == null) {
            return false;
        }
        for (ServiceAccountMatch a : accounts) {
            if (a.getNamespace().equals(p.namespace()) && a.getServiceAccount().equals(p.serviceAccount())) {
                return true;
            }
        }
        return false;
    }

    private static StringMatcher[] strings(java.util.List<io.jmesh.proto.istio.security.StringMatch> list,
            String path) {
        if (list.isEmpty()) {
            return NO_STRINGS;
        }
        StringMatcher[] out = new StringMatcher[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = StringMatcher.compile(list.get(i), path + "[" + i + "]");
        }
        return out;
    }

    private static Cidr[] cidrs(java.util.List<io.jmesh.proto.istio.security.Address> list, String path) {
        Cidr[] out = new Cidr[list.size()];
        for (int i = 0; i < out.length; i++) {
            out[i] = Cidr.compile(list.get(i), path + "[" + i + "]");
        }
        return out;
    }

    private static int[] ports(java.util.List<Integer> list, String path) {
        int[] out = new int[list.size()];
        for (int i = 0; i < out.length; i++) {
            int port = list.get(i);
            if (port <= 0 || port > 65535) {
                throw new IllegalArgumentException(path + "[" + i + "]: " + Integer.toUnsignedString(port)
                        + " (expected: 1-65535)");
            }
            out[i] = port;
        }
        return out;
    }
}
