package io.jmesh.testing.netns;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The lab itself: pods reach each other across nodes, keep their addresses, reach nothing else, and vanish. */
class TwoNodeLabTest {

    @TempDir
    Path dir;

    @BeforeAll
    static void needsNamespaces() {
        String reason = TwoNodeLab.unavailableReason();
        assumeTrue(reason == null, () -> "skipped: " + reason);
    }

    @Test
    void podsTalkAcrossNodesWithTheirOwnAddressesAndNothingIsLeftBehind() throws Exception {
        String prefix;
        try (TwoNodeLab lab = TwoNodeLab.create(dir)) {
            prefix = lab.prefix();
            Files.writeString(dir.resolve("hello.txt"), "hello from pod-b1\n");
            Path log = dir.resolve("http.log");
            lab.podB1().start(log, "python3", "-m", "http.server", "8080", "--bind", TwoNodeLab.address("pod-b1"),
                    "--directory", dir.toString());

            Netns.Result fetched = null;
            for (int attempt = 0; attempt < 50; attempt++) {       // the server needs a moment to bind
                fetched = lab.podA1().tryRun("curl", "-sS", "--max-time", "2", "http://10.10.2.11:8080/hello.txt");
                if (fetched.ok()) {
                    break;
                }
                Thread.sleep(200);
            }
            assertThat(fetched.ok()).as("curl pod-a1 → pod-b1: %s", fetched.output()).isTrue();
            assertThat(fetched.output()).isEqualTo("hello from pod-b1\n");
            // no NAT anywhere: the server saw pod-a1's own address
            assertThat(Files.readString(log)).contains(TwoNodeLab.address("pod-a1") + " - - ");

            // the other pod of node-a too, and pod-b2 over node-b's bridge (same node)
            assertThat(lab.podA2().tryRun("curl", "-sS", "--max-time", "2", "http://10.10.2.11:8080/hello.txt")
                    .output()).isEqualTo("hello from pod-b1\n");
            assertThat(lab.podB2().tryRun("curl", "-sS", "--max-time", "2", "http://10.10.2.11:8080/hello.txt")
                    .output()).isEqualTo("hello from pod-b1\n");
            assertThat(Files.readString(log)).contains(TwoNodeLab.address("pod-a2") + " - - ",
                    TwoNodeLab.address("pod-b2") + " - - ");
            assertThat(lab.podA1().run("ip", "route", "get", "10.10.2.11")).contains("via 10.10.1.1");
            // same node too: routed by the node (not bridged), so the node's IP hooks see it
            assertThat(lab.podB2().run("ip", "route", "get", "10.10.2.11")).contains("via 10.10.2.1");
            assertThat(lab.podB2().run("ip", "-o", "addr", "show", "dev", "eth0")).contains("10.10.2.12/32");
            // nothing leads out of the lab: nodes have no default route
            Netns.Result out = lab.nodeA().tryRun("ip", "route", "get", "1.1.1.1");
            assertThat(out.ok()).isFalse();
            assertThat(out.output()).contains("unreachable");

            // IPv6 the same way: across nodes and on one node, routed by the nodes, no NAT, no way out
            String b1 = TwoNodeLab.address6("pod-b1");
            assertThat(b1).isEqualTo("fd10:10:2::11");
            Path log6 = dir.resolve("http6.log");
            lab.podB1().start(log6, "python3", "-m", "http.server", "8081", "--bind", b1, "--directory",
                    dir.toString());
            for (int attempt = 0; attempt < 50; attempt++) {
                fetched = lab.podA1().tryRun("curl", "-sS", "--max-time", "2", "http://[" + b1 + "]:8081/hello.txt");
                if (fetched.ok()) {
                    break;
                }
                Thread.sleep(200);
            }
            assertThat(fetched.output()).as("curl over IPv6 pod-a1 → pod-b1").isEqualTo("hello from pod-b1\n");
            assertThat(lab.podB2().tryRun("curl", "-sS", "--max-time", "2", "http://[" + b1 + "]:8081/hello.txt")
                    .output()).isEqualTo("hello from pod-b1\n");
            assertThat(Files.readString(log6)).contains(TwoNodeLab.address6("pod-a1") + " - - ",
                    TwoNodeLab.address6("pod-b2") + " - - ");
            assertThat(lab.podB2().run("ip", "-6", "route", "get", b1)).contains("via " + TwoNodeLab.NODE_B_BRIDGE6);
            Netns.Result out6 = lab.nodeA().tryRun("ip", "-6", "route", "get", "2001:db8::1");
            assertThat(out6.ok()).isFalse();
        }
        String left = Netns.exec(java.util.List.of("ip", "netns", "list"));
        assertThat(left).doesNotContain(prefix);
    }
}
