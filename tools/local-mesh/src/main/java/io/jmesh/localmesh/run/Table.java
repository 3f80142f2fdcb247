package io.jmesh.localmesh.run;

import java.nio.file.Path;
import java.util.List;

/** The table {@code make run} prints once the mesh is ready: what runs where, and commands to try. */
public final class Table {

    private Table() {}

    public static String render(List<Component> components, Path state) {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%-18s %-34s %s%n", "COMPONENT", "ADDRESS", "PORTS"));
        sb.append(String.format("%-18s %-34s %s%n", "kafka", Layout.KAFKA + ":" + Layout.KAFKA_PORT, "KRaft, single node"));
        for (Component c : components) {
            sb.append(String.format("%-18s %-34s %s%n", c.name(), c.address(), c.ports()));
        }
        String socksA = Layout.NODE_A.address() + ":15080";
        sb.append("""

                Try it (node-a's ztunnel takes the apps' traffic on SOCKS5 %1$s, identifying each app by its
                source address; the wire between the nodes is mutual TLS with each workload's SPIFFE identity):

                  # productpage -> reviews (allowed by the AuthorizationPolicy; mTLS between node-a and node-b)
                  curl --interface %2$s --socks5-hostname %1$s http://%3$s:9080/reviews
                  # the same from sleep: denied at node-b (no policy allows sleep -> reviews)
                  curl --interface %4$s --socks5-hostname %1$s http://%3$s:9080/reviews
                  # the demo page: productpage calls reviews through the mesh itself
                  curl http://%5$s:9080/productpage
                  # TCP echo on node-b, by its pod IP
                  echo hello | curl -s --max-time 2 --interface %4$s --socks5 %1$s telnet://%7$s:9000   # hello back; ends after 2 s
                  # or: nc -X 5 -x %1$s -s %4$s %7$s 9000 (netcat-openbsd); socat 1.8+: SOCKS5:%6$s:%7$s:9000,socksport=15080

                  curl http://%8$s:15014/metrics                      # Istio metrics (istio_tcp_*) from telemetry
                  curl http://%8$s:15014/graph                        # service graph JSON; page: /graph/ui
                  curl http://127.0.0.1:%9$d/config_dump              # node-a ztunnel: workloads, policies, certificates
                  curl http://127.0.0.1:%10$d/config_dump             # node-b ztunnel
                  curl http://%11$s:15020/metrics                   # node-a ztunnel metrics

                State: %12$s (CA root in %12$s/ca/), logs: %12$s/logs/
                """.formatted(socksA, Layout.PRODUCTPAGE, Layout.REVIEWS_HOST, Layout.SLEEP, Layout.PRODUCTPAGE,
                Layout.NODE_A.address(), Layout.ECHO, Layout.TELEMETRY, Layout.NODE_A.localAdminPort(),
                Layout.NODE_B.localAdminPort(), Layout.NODE_A.address(), state));
        return sb.toString();
    }
}
