package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.testing.IpLiterals;
import io.jmesh.testing.fuzz.NameLookups;
import java.io.ByteArrayOutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The destination of a SOCKS5 CONNECT (any host text and port a client sends) through {@link OutboundRouter#route}
 * at full speed. Oracle: a route or a refusal with a reason, never an exception, never a name lookup (hostnames are
 * looked up only among the mesh's services); a plain passthrough only to an IP literal as written.
 * Input: two bytes of port, then the host as the SOCKS5 decoder hands it over (US-ASCII).
 */
@Tag("fuzz")
class OutboundRouterFuzz {

    @TempDir
    static Path dir;
    static WorkloadIndex index;
    static Workload source;
    static OutboundRouter router;

    @BeforeAll
    static void load() throws Exception {
        Path f = dir.resolve("mesh.yaml");
        Files.writeString(f, """
                workloads:
                  - {uid: src, name: src, namespace: default, addresses: [10.0.0.1], node: a, tunnelProtocol: HBONE}
                  - {uid: r1, name: r1, namespace: default, serviceAccount: reviews, addresses: [10.0.1.1], node: b,
                     tunnelProtocol: HBONE,
                     services: {"default/reviews.default.svc.cluster.local": {ports: [{servicePort: 9080, targetPort: 8080}]}}}
                  - {uid: plain, name: plain, namespace: default, addresses: [10.0.2.1], node: b}
                  - {uid: wp, name: waypoint, namespace: default, addresses: [10.0.3.1], node: c, tunnelProtocol: HBONE}
                  - {uid: behind, name: behind, namespace: default, addresses: [10.0.4.1], node: b,
                     tunnelProtocol: HBONE, waypoint: {address: {address: 10.0.3.1}, hboneMtlsPort: 15008}}
                  - {uid: v6, name: v6, namespace: default, addresses: ["fd00::5"], node: b, tunnelProtocol: HBONE}
                services:
                  - {name: reviews, namespace: default, hostname: reviews.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.1}], ports: [{servicePort: 9080, targetPort: 8080}]}
                  - {name: ratings, namespace: default, hostname: ratings.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.2}], ports: [{servicePort: 80}],
                     waypoint: {address: {address: 10.0.3.1}}}
                  - {name: open, namespace: default, hostname: open.default.svc.cluster.local,
                     addresses: [{address: 10.96.0.3}], ports: [{servicePort: 80}], loadBalancing: {mode: PASSTHROUGH}}
                """);
        index = WorkloadIndex.of(StaticConfigFile.read(f).addresses());
        source = index.workloadByIp(InetAddress.getByName("10.0.0.1"));
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of()).config();
        router = new OutboundRouter(config);
        NameLookups.install();
    }

    @AfterAll
    static void stopWatching() {
        NameLookups.uninstall();
    }

    @Test
    void everyDestinationRoutesOrIsRefusedWithoutANameLookup() {
        Fuzzer.named("socks5-destination", 260).seeds(destination(9080, "reviews.default.svc.cluster.local"),
                destination(9080, "10.96.0.1"), destination(80, "10.0.4.1"), destination(8080, "fd00::5"),
                destination(443, "93.184.216.34"), destination(80, "::ffff:10.0.2.1"),
                destination(80, "open.default.svc.cluster.local")).run(input -> {
            int port = input.length < 2 ? 0 : (input[0] & 0xFF) << 8 | input[1] & 0xFF;
            String host = input.length < 2 ? "" : new String(input, 2, input.length - 2, StandardCharsets.US_ASCII);
            Route r = NameLookups.forbidden(() -> router.route(index, source, host, port));
            assertThat(r).isNotNull();
            if (r instanceof Route.Reject reject) {
                assertThat(reject.reason()).isNotBlank();
                assertThat(reject.detail()).isNotBlank();
            } else if (r instanceof Route.Passthrough p && p.service() == null) {
                var named = index.serviceByHostname(host.toLowerCase(java.util.Locale.ROOT));
                if (named != null) {
                    // a PASSTHROUGH service by name: to its VIP, labelled with no service (as Istio's passthrough)
                    assertThat(named.getLoadBalancing().getMode()).as(host)
                            .isEqualTo(io.jmesh.proto.istio.workload.LoadBalancing.Mode.PASSTHROUGH);
                    assertThat(p.target()).isEqualTo(new InetSocketAddress(InetAddress.getByAddress(
                            named.getAddresses(0).getAddress().toByteArray()), port));
                    return;
                }
                InetAddress literal = IpLiterals.read(host);
                assertThat(literal).as("passthrough to '%s': must be an IP literal", host).isNotNull();
                assertThat(p.target()).isEqualTo(new InetSocketAddress(literal, port));
            }
        });
    }

    static byte[] destination(int port, String host) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.write(port >> 8);
        out.write(port);
        out.writeBytes(host.getBytes(StandardCharsets.US_ASCII));
        return out.toByteArray();
    }
}
