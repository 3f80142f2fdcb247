package io.jmesh.ztunnel.trust;

import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ztunnel.testing.ZtunnelHarness;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * node-a with one local workload (default/sleep, {@code podIp}), fetching its certificate from a real ca and
 * watching the trust bundle, both through ports the test chooses (a relay's, to blackhole or count connections).
 */
final class WatchingNode {

    private WatchingNode() {
    }

    /**
     * @param caPort where certificates are asked for
     * @param watchPort where the trust bundle is watched
     * @param identityLines more {@code identity:} fields, each line indented by two spaces, or ""
     */
    static ZtunnelHarness start(Path dir, CaServerExtension ca, String podIp, int caPort, int watchPort,
            String identityLines) throws Exception {
        Path roots = Files.writeString(dir.resolve("roots.pem"), ca.rootsPem());
        Path token = Files.writeString(dir.resolve("node-a.token"), ca.nodeToken("node-a") + "\n");
        Path config = Files.writeString(dir.resolve("workloads.yaml"), """
                workloads:
                  - uid: node-a/default/sleep-1
                    name: sleep-1
                    namespace: default
                    serviceAccount: sleep
                    addresses: [%s]
                    node: node-a
                    tunnelProtocol: HBONE
                """.formatted(podIp));
        return ZtunnelHarness.start(dir, "node-a", """
                logLevel: info
                drainDeadline: 2s
                admin: {host: 127.0.0.1, port: 0}
                node: {name: node-a, address: 127.0.157.1}
                listeners: {hbone: 15008, inboundPlaintext: -1, outboundCapture: -1, socks5: 0,
                            localAdmin: -1, readiness: -1, inboundPerWorkload: true, transparent: false}
                discovery: {staticFile: "%s"}
                identity:
                  caAddress: "127.0.0.1:%d"
                  tokenFile: "%s"
                  rootCertFile: "%s"
                %s
                  trustBundle: {watch: true, address: "127.0.0.1:%d", initialBackoff: 50ms, maxBackoff: 1s}
                """.formatted(config, caPort, token, roots, identityLines, watchPort), null);
    }
}
