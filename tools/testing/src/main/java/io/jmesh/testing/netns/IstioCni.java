package io.jmesh.testing.netns;

import io.vertx.core.json.JsonObject;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.UncheckedIOException;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.BlockingQueue;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.TimeUnit;

/**
 * What Istio's CNI node agent (istio-cni) does for a pod in ambient in-pod mode, for tests and benchmarks of
 * ztunnel's in-pod mode: the redirection rules inside the pod's network namespace ({@link #redirect}), and the
 * agent's end of ZDS ({@link Agent}, driving {@code fake_cni.py}, an independent implementation in Python).
 */
public final class IstioCni {

    private IstioCni() {}

    /**
     * istio-cni's in-pod rules (its iptables, written as nftables): the pod's outbound TCP is REDIRECTed to 15001
     * and its DNS to 15053; inbound TCP is TPROXYed to 15008 (HBONE) or 15006 (anything else); ztunnel's own
     * sockets (mark 0x539) pass, and their connections are marked 0x111 so replies are delivered locally. IPv4 and
     * IPv6 alike (istio-cni's iptables and ip6tables).
     */
    public static final String POD_RULES = """
            table inet istio-inpod {
              chain prerouting {
                type filter hook prerouting priority mangle; policy accept;
                meta mark & 0xfff == 0x539 ct mark set 0x111
                iifname "lo" ip daddr != 127.0.0.1 meta l4proto tcp accept
                iifname "lo" ip6 daddr != ::1 meta l4proto tcp accept
                meta l4proto tcp tcp dport 15008 meta mark & 0xfff != 0x539 tproxy ip to :15008 meta mark set 0x111 accept
                meta l4proto tcp tcp dport 15008 meta mark & 0xfff != 0x539 tproxy ip6 to :15008 meta mark set 0x111 accept
                meta l4proto tcp ct state established,related accept
                meta l4proto tcp ip daddr != 127.0.0.1 meta mark & 0xfff != 0x539 tproxy ip to :15006 meta mark set 0x111 accept
                meta l4proto tcp ip6 daddr != ::1 meta mark & 0xfff != 0x539 tproxy ip6 to :15006 meta mark set 0x111 accept
              }
              chain output {
                type route hook output priority mangle; policy accept;
                ct mark & 0xfff == 0x111 meta mark set ct mark
              }
              chain nat-output {
                type nat hook output priority -100; policy accept;
                meta l4proto tcp meta mark & 0xfff == 0x111 accept
                oifname "lo" ip daddr != 127.0.0.1 accept
                oifname "lo" ip6 daddr != ::1 accept
                meta l4proto { tcp, udp } th dport 53 ip daddr != 127.0.0.1 meta mark & 0xfff != 0x539 redirect to :15053
                meta l4proto { tcp, udp } th dport 53 ip6 daddr != ::1 meta mark & 0xfff != 0x539 redirect to :15053
                meta l4proto tcp ip daddr != 127.0.0.1 meta mark & 0xfff != 0x539 redirect to :15001
                meta l4proto tcp ip6 daddr != ::1 meta mark & 0xfff != 0x539 redirect to :15001
              }
            }
            """;

    /**
     * Installs {@link #POD_RULES} and the local routing of mark 0x111 (table 100, IPv4 and IPv6) in network
     * namespace {@code netns}.
     */
    public static void redirect(String netns) {
        try {
            Process nft = new ProcessBuilder("ip", "netns", "exec", netns, "nft", "-f", "-").redirectErrorStream(true)
                    .start();
            nft.getOutputStream().write(POD_RULES.getBytes(StandardCharsets.UTF_8));
            nft.getOutputStream().close();
            String out = new String(nft.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            if (!nft.waitFor(30, TimeUnit.SECONDS) || nft.exitValue() != 0) {
                throw new IllegalStateException("nft in " + netns + ": " + out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException(e);
        }
        Netns.exec(List.of("ip", "netns", "exec", netns, "ip", "rule", "add", "fwmark", "0x111/0xfff", "pref",
                "32764", "lookup", "100"));
        Netns.exec(List.of("ip", "netns", "exec", netns, "ip", "route", "add", "local", "0.0.0.0/0", "dev", "lo",
                "table", "100"));
        Netns.exec(List.of("ip", "netns", "exec", netns, "ip", "-6", "rule", "add", "fwmark", "0x111/0xfff", "pref",
                "32764", "lookup", "100"));
        Netns.exec(List.of("ip", "netns", "exec", netns, "ip", "-6", "route", "add", "local", "::/0", "dev", "lo",
                "table", "100"));
    }

    /**
     * The node agent's end of ZDS on a Unix socket ztunnel connects to: {@code fake_cni.py} (its own protobuf
     * encoder, Python's {@code sendmsg} with {@code SCM_RIGHTS}), driven one JSON line per command and result. As
     * istio-cni, it keeps every ztunnel that connects: commands go to the newest connection, a deletion to all.
     */
    public static final class Agent implements AutoCloseable {

        private final Process process;
        private final Writer commands;
        private final BlockingQueue<JsonObject> results = new LinkedBlockingQueue<>();
        private final BlockingQueue<JsonObject> events = new LinkedBlockingQueue<>();

        /** Starts the agent listening on {@code socket}; returns once it listens. */
        public Agent(Path socket, Path workDir) throws IOException, InterruptedException {
            Path script = workDir.resolve("fake_cni.py");
            try (InputStream in = IstioCni.class.getResourceAsStream("fake_cni.py")) {
                Files.copy(in, script, java.nio.file.StandardCopyOption.REPLACE_EXISTING);
            }
            process = new ProcessBuilder("python3", script.toString(), "--socket", socket.toString())
                    .redirectError(ProcessBuilder.Redirect.INHERIT).start();
            commands = new OutputStreamWriter(process.getOutputStream(), StandardCharsets.UTF_8);
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream(),
                        StandardCharsets.UTF_8))) {
                    for (String line = r.readLine(); line != null; line = r.readLine()) {
                        JsonObject o = new JsonObject(line);
                        (o.containsKey("event") ? events : results).add(o);
                    }
                } catch (IOException e) {
                    // the process ended
                }
            }, "fake-cni-reader");
            reader.setDaemon(true);
            reader.start();
            JsonObject first = event();
            if (!"listening".equals(first.getString("event"))) {
                throw new IllegalStateException("fake node agent: " + first.encode());
            }
        }

        /** The next event ({@code hello}, {@code disconnected}), waiting up to 30 s. */
        public JsonObject event() throws InterruptedException {
            JsonObject e = events.poll(30, TimeUnit.SECONDS);
            if (e == null) {
                throw new IllegalStateException("no event from the fake node agent within 30 s");
            }
            return e;
        }

        /**
         * A reconnection: the next two events are the old connection's {@code disconnected} and the new one's
         * {@code hello}, in either order (each connection has its own reader); returns the hello.
         */
        public JsonObject reconnected() throws InterruptedException {
            JsonObject first = event();
            JsonObject second = event();
            JsonObject hello = "hello".equals(first.getString("event")) ? first : second;
            JsonObject gone = hello == first ? second : first;
            if (!"hello".equals(hello.getString("event")) || !"disconnected".equals(gone.getString("event"))) {
                throw new IllegalStateException("fake node agent: not a reconnection: " + first.encode() + ", "
                        + second.encode());
            }
            return hello;
        }

        /** Sends one command and returns its result line. */
        public JsonObject send(JsonObject command) throws IOException, InterruptedException {
            commands.write(command.encode() + "\n");
            commands.flush();
            JsonObject r = results.poll(45, TimeUnit.SECONDS);
            if (r == null) {
                throw new IllegalStateException("no answer from the fake node agent to " + command.encode());
            }
            return r;
        }

        /** AddWorkload for the pod whose namespace is {@code /var/run/netns/<netns>}; the ack's error ("" = ok). */
        public String add(String uid, String netns, String name, String namespace, String serviceAccount)
                throws IOException, InterruptedException {
            return ack(send(new JsonObject().put("op", "add").put("uid", uid).put("netns", netns).put("name", name)
                    .put("namespace", namespace).put("serviceAccount", serviceAccount)));
        }

        public String snapshot() throws IOException, InterruptedException {
            return ack(send(new JsonObject().put("op", "snapshot")));
        }

        /** The ack's error of a result line; a transport failure throws. */
        public static String ack(JsonObject result) {
            if (!result.containsKey("ack")) {
                throw new IllegalStateException("fake node agent: " + result.encode());
            }
            return result.getString("ack");
        }

        @Override
        public void close() throws Exception {
            try {
                commands.write("{\"op\":\"quit\"}\n");
                commands.flush();
            } catch (IOException e) {
                // already gone
            }
            if (!process.waitFor(5, TimeUnit.SECONDS)) {
                process.destroyForcibly().waitFor(5, TimeUnit.SECONDS);
            }
        }
    }
}
