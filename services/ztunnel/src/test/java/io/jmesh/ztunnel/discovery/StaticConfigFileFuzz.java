package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.NameLookups;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The local-mode file ({@link StaticConfigFile#read}) with mutated YAML. Oracle: the file is accepted, and what it
 * holds loads into a {@link WorkloadIndex} (what ztunnel does with it next); or it is rejected with an
 * IllegalArgumentException that names the file and then the entry or field ({@code workloads[2].addresses[0]},
 * an unknown top-level key, a non-list section, or a YAML syntax error with its position). Never another
 * exception, never a name lookup for an address.
 */
@Tag("fuzz")
class StaticConfigFileFuzz {

    /** After "<file>: ": what every rejection starts with. */
    static final String NAMED = "(cannot read: .*"
            + "|(workloads|services|authorizations)\\[\\d+\\][.:].*"
            + "|unknown key '.*' \\(known keys: .*"
            + "|'(workloads|services|authorizations)' must be a list"
            + "|expected a mapping with .*)";

    @TempDir
    static Path dir;

    @BeforeAll
    static void watchLookups() {
        NameLookups.install();
    }

    @AfterAll
    static void stopWatching() {
        NameLookups.uninstall();
    }

    static byte[][] seeds() {
        return new byte[][] {yaml("""
                workloads:
                  - uid: node-b/default/reviews-1
                    name: reviews-1
                    namespace: default
                    serviceAccount: reviews
                    addresses: [127.0.20.11, "fd00::11"]
                    node: node-b
                    tunnelProtocol: HBONE
                    locality: {region: r1, zone: z1}
                    waypoint: {address: {network: "", address: 127.0.20.50}, hboneMtlsPort: 15008}
                    services: {"default/reviews.default.svc.cluster.local": {ports: [{servicePort: 9080, targetPort: 9080}]}}
                services:
                  - {name: reviews, namespace: default, hostname: reviews.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.10}], ports: [{servicePort: 9080, targetPort: 9080}],
                     loadBalancing: {routingPreference: [NETWORK, REGION, ZONE], mode: FAILOVER}}
                authorizations:
                  - {name: allow-productpage, namespace: default, scope: NAMESPACE, action: ALLOW,
                     rules: [{clauses: [{matches: [{principals: [{exact: "cluster.local/ns/default/sa/productpage"}]}]}]}]}
                """), yaml("""
                workloads:
                  - {uid: w1, name: w1, namespace: ns, addresses: [10.1.2.3], node: n, tunnelProtocol: HBONE}
                services:
                  - {name: s, namespace: ns, hostname: s.ns.svc.cluster.local, addresses: [{address: 10.96.1.1}]}
                authorizations:
                  - {name: p, namespace: ns, action: DENY}
                """), yaml("""
                # anchors and aliases are YAML too
                workloads:
                  - &w1
                    uid: w1
                    name: w1
                    namespace: ns
                    addresses: [10.1.2.3]
                    services: &svc
                      ns/s.ns.svc.cluster.local:
                        ports: [{servicePort: 80, targetPort: 8080}]
                  - uid: w2
                    name: w2
                    namespace: ns
                    addresses: [10.1.2.4]
                    services: *svc
                """), yaml("workloads: []\nservices: []\nauthorizations: []\n"), yaml("")};
    }

    @Test
    void aFileIsAcceptedWholeOrRejectedNamingTheEntry() {
        Path file = dir.resolve("mesh.yaml");
        Fuzzer.named("static-config", 2048).seeds(seeds()).run(input -> {
            Files.write(file, input);
            StaticConfigFile.Contents c;
            try {
                c = NameLookups.forbidden(() -> StaticConfigFile.read(file));
            } catch (IllegalArgumentException e) {
                assertThat(e.getMessage()).startsWith(file + ": ");
                assertThat(e.getMessage().substring(file.toString().length() + 2)).matches("(?s)" + NAMED);
                return;
            }
            WorkloadIndex index = WorkloadIndex.of(c.addresses());
            assertThat(index.workloads()).hasSizeLessThanOrEqualTo(c.addresses().size());
            assertThat(c.authorizations()).allSatisfy(a -> assertThat(a.getName()).isNotEmpty());
        });
    }

    static byte[] yaml(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
