package io.jmesh.policy.resource;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.config.v1.ServiceEntrySpec;
import io.jmesh.proto.config.v1.ServiceEntrySpec.Resolution;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Istio ServiceEntries as users write them, and as a cluster serves them back (with Istio's allocated VIPs). */
class ServiceEntryReaderTest {

    final ManifestReader reader = new ManifestReader("istio-system");

    static String entry(String spec) {
        return "apiVersion: networking.istio.io/v1\nkind: ServiceEntry\nmetadata: {name: ext, namespace: shop}\n"
                + "spec:\n" + spec.indent(2);
    }

    ParsedObject read(String manifest) {
        List<ParsedObject> all = reader.read(manifest);
        assertThat(all).hasSize(1);
        return all.get(0);
    }

    @Test
    void anExternalApiResolvedByDnsKeepsTheAddressesIstiosAllocationRecorded() {
        ParsedObject o = read("""
                apiVersion: networking.istio.io/v1
                kind: ServiceEntry
                metadata:
                  name: payments
                  namespace: shop
                  resourceVersion: "88"
                  labels: {istio.io/use-waypoint: egress}
                spec:
                  hosts: [api.payments.example, status.payments.example]
                  location: MESH_EXTERNAL
                  resolution: DNS
                  ports:
                  - {number: 443, name: https, protocol: TLS}
                  - {number: 80, name: http, protocol: http, targetPort: 8080}
                  exportTo: ["."]
                status:
                  addresses:
                  - {value: 240.240.0.1, host: api.payments.example}
                  - {value: "2001:2::1", host: api.payments.example}
                  - {value: not-an-ip, host: status.payments.example}
                  conditions: [{type: Reconciled, status: "True"}]
                """);
        assertThat(o.errors()).isEmpty();
        ServiceEntrySpec spec = o.record().getServiceEntry();
        assertThat(spec.getHostsList()).containsExactly("api.payments.example", "status.payments.example");
        assertThat(spec.getResolution()).isEqualTo(Resolution.DNS);
        assertThat(spec.getPortsList()).extracting(p -> p.getName() + "/" + p.getNumber() + "/" + p.getProtocol()
                + "/" + p.getTargetPort()).containsExactly("https/443/TLS/0", "http/80/http/8080");
        assertThat(spec.getAllocatedAddressesList()).extracting(a -> a.getHost() + "=" + a.getValue())
                .containsExactly("api.payments.example=240.240.0.1", "api.payments.example=2001:2:0:0:0:0:0:1");
        assertThat(o.warnings()).anyMatch(w -> w.startsWith("spec.exportTo is not applied by ztunnel"))
                .anyMatch(w -> w.startsWith("status.addresses[2] is left out"));
    }

    @Test
    void inlineEndpointsAreWorkloadEntriesWhosePortsNameTheEntrysPorts() {
        ParsedObject o = read(entry("""
                hosts: [db.internal.example]
                addresses: [10.200.0.10/32]
                resolution: STATIC
                ports: [{number: 5432, name: postgres}]
                endpoints:
                - {address: 192.0.2.10, ports: {postgres: 6432}, labels: {version: v2}, network: vm-net,
                   locality: eu/west, weight: 3, serviceAccount: db}
                - {address: 192.0.2.11}
                """));
        assertThat(o.errors()).isEmpty();
        ServiceEntrySpec spec = o.record().getServiceEntry();
        assertThat(spec.getAddressesList()).as("a one-address CIDR is that address").containsExactly("10.200.0.10");
        assertThat(spec.getEndpointsList()).hasSize(2);
        assertThat(spec.getEndpoints(0).getPortsMap()).containsEntry("postgres", 6432);
        assertThat(spec.getEndpoints(0).getServiceAccount()).isEqualTo("db");
        assertThat(spec.getEndpoints(0).getWeight()).isEqualTo(3);
    }

    @Test
    void aDnsEndpointMayBeANameAndAWildcardHostMayBeRoutedWithoutResolution() {
        assertThat(read(entry("""
                hosts: [legacy.example]
                resolution: DNS_ROUND_ROBIN
                ports: [{number: 80, name: http}]
                endpoints: [{address: lb.legacy.example}]
                """)).errors()).isEmpty();
        assertThat(read(entry("""
                hosts: ["*.googleapis.com"]
                ports: [{number: 443, name: https}]
                """)).errors()).isEmpty();
    }

    /** Each case: a spec, the path of the error it must get, and a part of its message. */
    @Test
    void whatIstioRefusesOrAmbientModeCannotRouteIsRejectedNamingTheField() {
        String port = "ports: [{number: 80, name: http}]\n";
        Object[][] cases = {
            {"hosts: []\n" + port, "spec.hosts", "at least one host"},
            {"hosts: ['*']\n" + port, "spec.hosts[0]", "matches every host"},
            {"hosts: [a.example, a.example]\n" + port, "spec.hosts[1]", "duplicate host"},
            {"hosts: [A_B.example]\n" + port, "spec.hosts[0]", "DNS-1123"},
            {"hosts: [a.example]\n", "spec.ports", "at least one port"},
            {"hosts: [a.example]\nports: [{number: 80}]\n", "spec.ports[0].name", "required"},
            {"hosts: [a.example]\nports: [{number: 80, name: a}, {number: 80, name: b}]\n", "spec.ports[1].number",
                "duplicate port 80"},
            {"hosts: [a.example]\nports: [{number: 80, name: http, protocol: SMTP}]\n", "spec.ports[0].protocol",
                "not an Istio protocol"},
            {"hosts: [a.example]\naddresses: [10.0.0.0/16]\n" + port, "spec.addresses[0]", "is a range"},
            {"hosts: [a.example]\naddresses: [ten]\n" + port, "spec.addresses[0]", "not an IP address or CIDR"},
            {"hosts: [a.example]\nresolution: DYNAMIC_DNS\n" + port, "spec.resolution", "not supported"},
            {"hosts: [a.example]\nresolution: MAGIC\n" + port, "spec.resolution", "expected: NONE, STATIC"},
            {"hosts: [a.example]\n" + port + "endpoints: [{address: 192.0.2.1}]\n", "spec.endpoints",
                "resolution NONE"},
            {"hosts: [a.example]\nresolution: STATIC\n" + port + "endpoints: [{address: db.example}]\n",
                "spec.endpoints[0].address", "needs resolution DNS"},
            {"hosts: [a.example]\nresolution: STATIC\n" + port + "endpoints: [{address: 'unix:///sock'}]\n",
                "spec.endpoints[0].address", "Unix domain socket"},
            {"hosts: [a.example]\nresolution: STATIC\n" + port + "endpoints: [{address: 192.0.2.1, node: n1}]\n",
                "spec.endpoints[0].node", "unknown field"},
            {"hosts: [a.example]\nresolution: STATIC\n" + port + "endpoints: [{address: 192.0.2.1, ports: {grpc: 9}}]\n",
                "spec.endpoints[0].ports.grpc", "no port named 'grpc'"},
            {"hosts: [a.example]\nresolution: STATIC\n" + port
                + "endpoints: [{address: 192.0.2.1}]\nworkloadSelector: {labels: {app: db}}\n", "spec.workloadSelector",
                "only one of workloadSelector and endpoints"},
            {"hosts: [a.example]\nresolution: STATIC\n" + port + "workloadSelector: {labels: {}}\n",
                "spec.workloadSelector.labels", "required"},
            {"hosts: [a.example]\nresolution: DNS_ROUND_ROBIN\n" + port
                + "endpoints: [{address: a.example}, {address: b.example}]\n", "spec.endpoints", "at most one endpoint"},
            {"hosts: ['*.example']\nresolution: DNS\n" + port, "spec.hosts", "a wildcard host cannot be resolved"},
        };
        for (Object[] c : cases) {
            ParsedObject o = read(entry((String) c[0]));
            assertThat(o.record()).as("%s", c[0]).isNull();
            assertThat(o.errors()).as("%s", c[0]).anySatisfy(e -> {
                assertThat(e.path()).isEqualTo(c[1]);
                assertThat(e.message()).contains((String) c[2]);
            });
        }
    }

    @Test
    void aStaticEntryWithoutEndpointsIsAcceptedWithAWarningThatItRoutesNowhere() {
        ParsedObject o = read(entry("""
                hosts: [a.example]
                resolution: STATIC
                ports: [{number: 80, name: http}]
                """));
        assertThat(o.errors()).isEmpty();
        assertThat(o.warnings()).anyMatch(w -> w.contains("no endpoint"));
    }
}
