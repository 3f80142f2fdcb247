package io.jmesh.localmesh.compose;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * docker-compose.yml's node namespace design, on a real kernel: two network namespaces on one bridge stand for the
 * two holder containers on the {@code mesh} network (same fixed addresses), strict reverse-path filtering on, and
 * the holders' own commands, taken from the file, run with busybox as in the {@code busybox} image. Then TCP
 * crosses between the nodes' workload addresses both ways: a ztunnel's dial of {@code <workload ip>:15008} from
 * its namespace's own address, and a connection from a workload address. Root only (CI runs as root), with
 * Debian's {@code busybox}, {@code iproute2} and {@code python3} (the listener and client in the namespaces).
 */
@Timeout(120)
class NodeRoutingTest {

    private static final Path REPO = Path.of(System.getProperty("jmesh.repo", "../..")).toAbsolutePath().normalize();

    private final String prefix = "jmc" + Integer.toHexString(ThreadLocalRandom.current().nextInt(0x1000, 0xffff));
    private final List<String> namespaces = new ArrayList<>();
    private final List<Process> processes = new ArrayList<>();

    @AfterEach
    void removeNamespaces() throws Exception {
        for (Process p : processes) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
        for (String ns : namespaces) {
            exec(List.of("ip", "netns", "del", ns), true);
        }
    }

    @Test
    void theHolderCommandsRouteEachNodesWorkloadsToTheOtherWithStrictReversePathFiltering(@TempDir Path tmp)
            throws Exception {
        String why = unavailableReason();
        assumeTrue(why == null, why);
        ComposeFile compose = ComposeFile.load(REPO.resolve("docker-compose.yml"));
        // busybox applets on PATH, as in the busybox image
        Path bin = Files.createDirectories(tmp.resolve("bin"));
        for (String applet : List.of("sh", "ip", "touch", "test", "sleep")) {
            Files.createSymbolicLink(bin.resolve(applet), Path.of(which("busybox")));
        }
        String bridge = namespace("br");
        exec(List.of("ip", "-n", bridge, "link", "add", "br0", "type", "bridge"), false);
        exec(List.of("ip", "-n", bridge, "link", "set", "br0", "up"), false);
        for (String node : List.of("node-a", "node-b")) {
            ComposeFile.Service holder = compose.services().get(node);
            String ns = namespace(node);
            String host = prefix + node.charAt(5);        // veth names: at most 15 characters
            exec(List.of("ip", "link", "add", host + "e", "type", "veth", "peer", "name", host + "b"), false);
            exec(List.of("ip", "link", "set", host + "e", "netns", ns), false);
            exec(List.of("ip", "link", "set", host + "b", "netns", bridge), false);
            exec(List.of("ip", "-n", bridge, "link", "set", host + "b", "master", "br0"), false);
            exec(List.of("ip", "-n", bridge, "link", "set", host + "b", "up"), false);
            exec(List.of("ip", "-n", ns, "link", "set", host + "e", "name", "eth0"), false);
            exec(List.of("ip", "-n", ns, "link", "set", "eth0", "up"), false);
            exec(List.of("ip", "-n", ns, "addr", "add", holder.ipv4Address("mesh") + "/24", "dev", "eth0"), false);
            exec(List.of("ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1",
                    "net.ipv4.conf.default.rp_filter=1", "net.ipv4.conf.eth0.rp_filter=1"), false);
            // the holder's script as Compose hands it to sh ($$ -> $), without its endless sleep at the end
            String script = holder.command().get(2).replace("$$", "$");
            assertThat(holder.command().subList(0, 2)).containsExactly("sh", "-c");
            script = script.substring(0, script.indexOf("&& trap")).replace("/tmp/ready", tmp.resolve(node).toString());
            exec(List.of("ip", "netns", "exec", ns, "env", "PATH=" + bin, "sh", "-c", script), false);
            assertThat(tmp.resolve(node)).as(node + " marked itself ready").exists();
        }
        String a = prefix + "-node-a";
        String b = prefix + "-node-b";

        // node-a's ztunnel dials reviews' HBONE port on node-b
        Process server = listen(b, "10.10.2.11", 15008, tmp.resolve("b.log"));
        String client = connect(a, null, "10.10.2.11", 15008);
        assertThat(client).contains("answered by 10.10.2.11");
        assertThat(waitFor(server, tmp.resolve("b.log"))).contains("accepted from 172.30.250.10");

        // and a connection from a workload address, node-b -> node-a: the reply must survive rp_filter too
        server = listen(a, "10.10.1.11", 15008, tmp.resolve("a.log"));
        client = connect(b, "10.10.2.12", "10.10.1.11", 15008);
        assertThat(client).contains("answered by 10.10.1.11");
        assertThat(waitFor(server, tmp.resolve("a.log"))).contains("accepted from 10.10.2.12");
    }

    private Process listen(String ns, String ip, int port, Path log) throws Exception {
        String py = "import socket\n"
                + "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
                + "s.bind(('" + ip + "', " + port + ")); s.listen(1); s.settimeout(60)\n"
                + "print('listening', flush=True)\n"
                + "c, peer = s.accept(); print('accepted from ' + peer[0], flush=True)\n"
                + "c.sendall(b'answered by " + ip + "'); c.close()\n";
        Process p = new ProcessBuilder("ip", "netns", "exec", ns, "python3", "-c", py).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        processes.add(p);
        for (int i = 0; i < 100 && !Files.readString(log).contains("listening"); i++) {
            assertThat(p.isAlive()).as(Files.readString(log)).isTrue();
            Thread.sleep(100);
        }
        assertThat(Files.readString(log)).contains("listening");
        return p;
    }

    private String connect(String ns, String from, String ip, int port) throws Exception {
        String py = "import socket\n"
                + "s=socket.socket(); s.settimeout(10)\n"
                + (from == null ? "" : "s.bind(('" + from + "', 0))\n")
                + "s.connect(('" + ip + "', " + port + ")); print(s.recv(100).decode())\n";
        return exec(List.of("ip", "netns", "exec", ns, "python3", "-c", py), false);
    }

    private static String waitFor(Process p, Path log) throws Exception {
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return Files.readString(log);
    }

    private String namespace(String role) throws Exception {
        String name = prefix + "-" + role;
        exec(List.of("ip", "netns", "add", name), false);
        namespaces.add(name);
        exec(List.of("ip", "-n", name, "link", "set", "lo", "up"), false);
        return name;
    }

    private static String exec(List<String> command, boolean mayFail) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        if (!p.waitFor(30, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError(String.join(" ", command) + ": timed out");
        }
        if (p.exitValue() != 0 && !mayFail) {
            throw new AssertionError(String.join(" ", command) + ": exit " + p.exitValue() + ": " + out);
        }
        return out;
    }

    private static String which(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "/usr/bin:/bin").split(":")) {
            Path p = Path.of(dir, tool);
            if (Files.isExecutable(p)) {
                return p.toString();
            }
        }
        return null;
    }

    private static String unavailableReason() throws IOException {
        boolean root = Files.readString(Path.of("/proc/self/status")).lines()
                .filter(l -> l.startsWith("Uid:")).anyMatch(l -> l.split("\\s+")[1].equals("0"));
        if (!root) {
            return "network namespaces need root (CI runs as root)";
        }
        for (String tool : List.of("ip", "busybox", "python3")) {
            if (which(tool) == null) {
                return tool + " is not installed (Debian packages iproute2, busybox, python3)";
            }
        }
        return null;
    }
}
