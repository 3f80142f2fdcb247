package io.jmesh.ztunnel.dns;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Istio's DNS rules on one snapshot: aliases, search domains, wildcards, headless services, families, networks. */
class NameResolutionTest {

    @TempDir
    static Path dir;

    static WorkloadIndex index;
    static Workload client;
    static final NameResolution names = new NameResolution("cluster.local");

    @BeforeAll
    static void mesh() throws Exception {
        Path f = dir.resolve("mesh.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: c, name: client, namespace: ns1, addresses: [10.0.0.1], node: a, tunnelProtocol: HBONE}
                  - {uid: db-0, name: db-0, hostname: db-0, namespace: ns1, addresses: [10.0.5.1, "fd00::5:1"],
                     node: b, tunnelProtocol: HBONE, services: {"ns1/db.ns1.svc.cluster.local": {}}}
                  - {uid: db-1, name: db-1, namespace: ns1, addresses: [10.0.5.2], node: b, tunnelProtocol: HBONE,
                     services: {"ns1/db.ns1.svc.cluster.local": {}}}
                  - {uid: db-2, name: db-2, namespace: ns1, addresses: [10.0.5.3], node: b, tunnelProtocol: HBONE,
                     status: UNHEALTHY, services: {"ns1/db.ns1.svc.cluster.local": {}}}
                services:
                  - {name: productpage, namespace: ns1, hostname: productpage.ns1.svc.cluster.local,
                     addresses: [{address: 10.96.0.9}, {network: other, address: 10.200.0.9}]}
                  - {name: example, namespace: ns2, hostname: example.ns2.svc.cluster.local,
                     addresses: [{address: 10.96.0.10}]}
                  - {name: dual, namespace: ns1, hostname: dual.ns1.svc.cluster.local,
                     addresses: [{address: 10.96.0.11}, {address: "fd00::11"}]}
                  - {name: db, namespace: ns1, hostname: db.ns1.svc.cluster.local}
                  - {name: api, namespace: ns1, hostname: api.example.com, addresses: [{address: 240.240.0.1}]}
                  - {name: api, namespace: ns2, hostname: api.example.com, addresses: [{address: 240.240.0.2}]}
                  - {name: wild, namespace: ns3, hostname: "*.wild.example.com", addresses: [{address: 240.240.0.3}]}
                  - {name: novip, namespace: ns1, hostname: novip.example.com}
                """);
        index = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        client = index.workloadByUid("c");
    }

    private static NameResolution.Answer a(String name) {
        return names.resolve(index, client, name, false);
    }

    private static List<String> ips(NameResolution.Answer a) {
        return a.addresses().stream().map(InetAddress::getHostAddress).sorted().toList();
    }

    @Test
    void kubernetesNamesInEveryShortForm() {
        for (String n : List.of("productpage.ns1.svc.cluster.local", "productpage.ns1.svc", "productpage.ns1",
                "productpage")) {
            NameResolution.Answer a = a(n);
            assertThat(a).as(n).isNotNull();
            assertThat(a.canonical()).as(n).isNull();
            // only the VIP of the client's network
            assertThat(ips(a)).as(n).containsExactly("10.96.0.9");
        }
        // another namespace: by name.namespace and longer, not by the bare name (that is ns1's)
        assertThat(ips(a("example.ns2"))).containsExactly("10.96.0.10");
        assertThat(ips(a("example.ns2.svc.cluster.local"))).containsExactly("10.96.0.10");
        assertThat(a("example")).isNull();
    }

    @Test
    void searchDomainsAppendedByTheClientAreStrippedWithACname() {
        NameResolution.Answer a = a("productpage.ns1.ns1.svc.cluster.local");
        assertThat(a.canonical()).isEqualTo("productpage.ns1");
        assertThat(ips(a)).containsExactly("10.96.0.9");
        NameResolution.Answer e = a("api.example.com.svc.cluster.local");
        assertThat(e.canonical()).isEqualTo("api.example.com");
    }

    @Test
    void serviceEntriesPreferTheClientsNamespaceAndMatchWildcards() {
        assertThat(ips(a("api.example.com"))).containsExactly("240.240.0.1");
        NameResolution.Answer w = a("foo.wild.example.com");
        assertThat(ips(w)).containsExactly("240.240.0.3");
        // a wildcard match found through a stripped search domain gets no CNAME (Istio's rule)
        assertThat(a("foo.wild.example.com.cluster.local").canonical()).isNull();
        // no VIP and not a Kubernetes service: upstream DNS knows better
        assertThat(a("novip.example.com")).isNull();
        assertThat(a("www.google.com")).isNull();
    }

    @Test
    void headlessServicesAnswerWithTheirReadyEndpointsAndPodHosts() {
        assertThat(ips(a("db.ns1.svc.cluster.local"))).containsExactly("10.0.5.1", "10.0.5.2");
        assertThat(ips(a("db"))).containsExactly("10.0.5.1", "10.0.5.2");
        // <pod>.<service>.<ns>.svc.<domain>, by hostname, else by name
        assertThat(ips(a("db-0.db.ns1.svc.cluster.local"))).containsExactly("10.0.5.1");
        assertThat(ips(a("db-1.db.ns1.svc.cluster.local"))).containsExactly("10.0.5.2");
        assertThat(ips(a("db-0.db"))).containsExactly("10.0.5.1");
        assertThat(ips(names.resolve(index, client, "db-0.db.ns1.svc.cluster.local", true)))
                .containsExactly("fd00:0:0:0:0:0:5:1");
        assertThat(a("db-9.db.ns1.svc.cluster.local")).isNull();
    }

    @Test
    void aaaaGetsTheIpv6AddressesAndAnIpv4ServiceAnswersEmpty() {
        assertThat(ips(names.resolve(index, client, "dual", true))).containsExactly("fd00:0:0:0:0:0:0:11");
        assertThat(ips(a("dual"))).containsExactly("10.96.0.11");
        NameResolution.Answer none = names.resolve(index, client, "productpage", true);
        assertThat(none).isNotNull(); // the name exists: NOERROR without records, not NXDOMAIN
        assertThat(none.addresses()).isEmpty();
    }

    @Test
    void anotherClusterDomain() {
        NameResolution other = new NameResolution("corp.internal");
        assertThat(other.resolve(index, client, "productpage", false)).isNull();
        assertThat(other.resolve(index, client, "productpage.ns1.svc.cluster.local", false)).isNotNull();
    }
}
