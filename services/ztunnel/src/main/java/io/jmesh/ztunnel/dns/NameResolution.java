package io.jmesh.ztunnel.dns;

import io.jmesh.proto.istio.workload.IPFamilies;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadStatus;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Which names the DNS proxy answers itself, and with what: Istio's rules, read from one workload snapshot.
 *
 * <p>A name is tried as asked, as the Kubernetes FQDN it abbreviates ({@code reviews} from a pod of {@code ns1}
 * is {@code reviews.ns1.svc.<domain>}; {@code reviews.ns2} and {@code reviews.ns2.svc} likewise), and with the
 * client's search domains ({@code <ns>.svc.<domain>}, {@code svc.<domain>}, {@code <domain>}) stripped again,
 * since the client's resolver appends them before asking: {@code api.example.com.ns1.svc.cluster.local} finds
 * the ServiceEntry {@code api.example.com} and is answered with a CNAME to it. Each candidate matches a service
 * hostname exactly or through a wildcard ({@code *.example.com}); a service of the client's own namespace wins
 * over one of another namespace with the same hostname. Services without a VIP are answered only when they are
 * Kubernetes headless services (their ready endpoints' addresses); {@code <pod>.<service>.<ns>.svc.<domain>} is
 * a headless service's endpoint by hostname. Everything else is not ours: the proxy forwards it upstream.
 */
final class NameResolution {

    /**
     * The proxy's answer.
     *
     * @param canonical the name the records carry when it differs from the asked one (a CNAME is added), or null
     * @param addresses of the asked family, shuffled; empty for a known name without such addresses (NOERROR, no
     *     records: the name exists)
     */
    record Answer(String canonical, List<InetAddress> addresses) {}

    private record Alias(String name, String stripped, boolean podHost) {}

    private final String domain;
    private final String svcDomain;

    /** @param clusterDomain the Kubernetes cluster domain, {@code cluster.local} by default */
    NameResolution(String clusterDomain) {
        this.domain = clusterDomain;
        this.svcDomain = "svc." + clusterDomain;
    }

    /** The answer to an A ({@code ipv6} false) or AAAA question from {@code client}, or null to forward it. */
    Answer resolve(WorkloadIndex index, Workload client, String name, boolean ipv6) {
        if (name.isEmpty()) {
            return null;
        }
        for (Alias alias : aliases(client.getNamespace(), name)) {
            for (String candidate : wildcards(alias.name())) {
                Service service = service(index, client.getNamespace(), candidate);
                if (service != null) {
                    String canonical = alias.stripped() != null && !candidate.startsWith("*.") ? alias.stripped()
                            : null;
                    return new Answer(canonical, addresses(index, client, service, ipv6));
                }
            }
            if (alias.podHost()) {
                Workload pod = headlessPod(index, alias.name());
                if (pod != null) {
                    return new Answer(null, shuffled(family(pod, ipv6, true)));
                }
            }
        }
        return null;
    }

    private List<Alias> aliases(String namespace, String name) {
        Map<String, Alias> out = new LinkedHashMap<>();
        String namespaced = namespace + "." + svcDomain;
        add(out, new Alias(name, null, labels(name) == 6));
        for (Alias a : kubeFqdns(name, null, namespaced)) {
            add(out, a);
        }
        for (String search : new String[] {namespaced, svcDomain, domain}) {
            if (name.endsWith("." + search)) {
                String stripped = name.substring(0, name.length() - search.length() - 1);
                add(out, new Alias(stripped, stripped, labels(name) == 6));
                for (Alias a : kubeFqdns(stripped, stripped, namespaced)) {
                    add(out, a);
                }
            }
        }
        return new ArrayList<>(out.values());
    }

    private static void add(Map<String, Alias> out, Alias a) {
        out.putIfAbsent(a.name(), a);
    }

    /** The Kubernetes FQDNs a short name can stand for (services, and pod hosts of headless services). */
    private List<Alias> kubeFqdns(String name, String stripped, String namespaced) {
        int labels = labels(name);
        List<Alias> out = new ArrayList<>(2);
        switch (labels) {
            case 1 -> out.add(new Alias(name + "." + namespaced, stripped, false));
            case 2 -> {
                out.add(new Alias(name + "." + svcDomain, stripped, false));
                out.add(new Alias(name + "." + namespaced, stripped, true));
            }
            case 3 -> {
                if (name.endsWith(".svc")) {
                    out.add(new Alias(name + "." + domain, stripped, false));
                }
                out.add(new Alias(name + "." + svcDomain, stripped, true));
            }
            case 4 -> {
                if (name.endsWith(".svc")) {
                    out.add(new Alias(name + "." + domain, stripped, true));
                }
            }
            default -> {
                // already fully qualified, or not a Kubernetes name
            }
        }
        return out;
    }

    /** {@code www.example.com}, {@code *.example.com}, {@code *.com}. */
    private static List<String> wildcards(String name) {
        List<String> out = new ArrayList<>(4);
        out.add(name);
        int dot = name.indexOf('.');
        while (dot >= 0) {
            out.add("*" + name.substring(dot));
            dot = name.indexOf('.', dot + 1);
        }
        return out;
    }

    private Service service(WorkloadIndex index, String clientNamespace, String hostname) {
        Service own = index.serviceByName(clientNamespace + "/" + hostname);
        if (own != null && answerable(own)) {
            return own;
        }
        Service any = index.serviceByHostname(hostname);
        return any != null && answerable(any) ? any : null;
    }

    /** Services without a VIP are left to upstream DNS, except Kubernetes headless services. */
    private boolean answerable(Service s) {
        return s.getAddressesCount() > 0 || s.getHostname().endsWith("." + svcDomain);
    }

    private static List<InetAddress> addresses(WorkloadIndex index, Workload client, Service s, boolean ipv6) {
        if (s.getIpFamilies() == (ipv6 ? IPFamilies.IPV4_ONLY : IPFamilies.IPV6_ONLY)) {
            return List.of();
        }
        List<InetAddress> out = new ArrayList<>();
        if (s.getAddressesCount() > 0) {
            for (NetworkAddress vip : s.getAddressesList()) {
                InetAddress a = ip(vip.getAddress().toByteArray());
                if (a != null && isV6(a) == ipv6 && vip.getNetwork().equals(client.getNetwork())) {
                    out.add(a);
                }
            }
        } else {
            // headless: the ready endpoints themselves, one address each
            for (Workload w : index.endpoints(s)) {
                if (w.getStatus() == WorkloadStatus.HEALTHY) {
                    out.addAll(family(w, ipv6, false));
                }
            }
        }
        return shuffled(out);
    }

    /** {@code <pod>.<service>.<ns>.svc.<domain>}: the headless service's endpoint whose hostname (or name) is pod. */
    private static Workload headlessPod(WorkloadIndex index, String fqdn) {
        int dot = fqdn.indexOf('.');
        if (dot <= 0) {
            return null;
        }
        String pod = fqdn.substring(0, dot);
        Service service = index.serviceByHostname(fqdn.substring(dot + 1));
        if (service == null || service.getAddressesCount() > 0) {
            return null;
        }
        for (Workload w : index.endpoints(service)) {
            if (pod.equals(w.getHostname()) || (w.getHostname().isEmpty() && pod.equals(w.getName()))) {
                return w;
            }
        }
        return null;
    }

    private static List<InetAddress> family(Workload w, boolean ipv6, boolean all) {
        List<InetAddress> out = new ArrayList<>(1);
        for (var raw : w.getAddressesList()) {
            InetAddress a = ip(raw.toByteArray());
            if (a != null && isV6(a) == ipv6) {
                out.add(a);
                if (!all) {
                    break;
                }
            }
        }
        return out;
    }

    private static List<InetAddress> shuffled(List<InetAddress> addresses) {
        if (addresses.size() > 1) {
            Collections.shuffle(addresses, ThreadLocalRandom.current());
        }
        return addresses;
    }

    private static boolean isV6(InetAddress a) {
        return !(a instanceof Inet4Address);
    }

    private static InetAddress ip(byte[] raw) {
        try {
            return raw.length == 4 || raw.length == 16 ? InetAddress.getByAddress(raw) : null;
        } catch (UnknownHostException e) {
            return null;
        }
    }

    private static int labels(String name) {
        int n = 1;
        for (int i = 0; i < name.length(); i++) {
            if (name.charAt(i) == '.') {
                n++;
            }
        }
        return n;
    }
}
