package io.jmesh.localmesh.demo;

import static org.assertj.core.api.Assertions.assertThat;

import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * The demo workloads as docker-compose.yml runs them: one app per process at the address given, the healthcheck
 * {@code --probe}, productpage calling through a SOCKS5 proxy from its own configured address, and SIGTERM ending
 * the process with exit 0. Real processes and sockets on 127.0.0.0/8.
 */
@Timeout(120)
class DemoAppsTest {

    private final List<Process> started = new ArrayList<>();

    @AfterEach
    void stop() throws Exception {
        for (Process p : started) {
            p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        }
    }

    @Test
    void runsOnlyTheAppsAskedForAtTheirAddressesAndTheProbeSaysSo() throws Exception {
        InetSocketAddress reviews = free("127.0.33.11");
        InetSocketAddress echo = free("127.0.33.12");
        InetSocketAddress productpage = free("127.0.33.13");
        Process p = demo("--apps", "reviews,echo", "--reviews", hostPort(reviews), "--echo", hostPort(echo));
        assertThat(firstLine(p)).isEqualTo("demo apps listening: reviews " + reviews + ", echo " + echo);

        HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                URI.create("http://" + hostPort(reviews) + "/reviews")).build(), HttpResponse.BodyHandlers.ofString());
        assertThat(r.statusCode()).isEqualTo(200);
        assertThat(r.body()).contains("\"service\":\"reviews\"").contains("\"seen_peer\":\"127.0.0.1\"");
        try (Socket s = new Socket(echo.getAddress(), echo.getPort())) {
            s.getOutputStream().write("ping\n".getBytes(StandardCharsets.US_ASCII));
            s.shutdownOutput();
            assertThat(new String(s.getInputStream().readAllBytes(), StandardCharsets.US_ASCII)).isEqualTo("ping\n");
        }

        assertThat(run("--probe", hostPort(reviews) + "," + hostPort(echo))).isZero();
        assertThat(run("--probe", hostPort(productpage))).as("productpage was not asked for").isEqualTo(1);

        p.destroy();   // SIGTERM, as `docker compose stop` sends
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(p.exitValue()).isZero();
    }

    @Test
    void productpageCallsReviewsThroughSocksFromItsOwnConfiguredAddress() throws Exception {
        InetSocketAddress reviews = free("127.0.33.21");
        InetSocketAddress productpage = free("127.0.33.22");
        demo("--apps", "reviews", "--reviews", hostPort(reviews));
        try (ServerSocket socks = new ServerSocket(0, 8, InetAddress.getByName("127.0.33.23"))) {
            CompletableFuture<String> caller = CompletableFuture.supplyAsync(() -> socks5Once(socks));
            Process p = demo("--apps", "productpage", "--productpage", hostPort(productpage),
                    "--socks", "127.0.33.23:" + socks.getLocalPort(), "--reviews-url", hostPort(reviews));
            assertThat(firstLine(p)).isEqualTo("demo apps listening: productpage " + productpage);
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(
                    URI.create("http://" + hostPort(productpage) + "/productpage")).build(),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(r.body()).isEqualTo(200);
            assertThat(r.body()).contains("\"service\":\"productpage\"").contains("Reviewer1");
            // the proxy (a ztunnel in the mesh) sees the caller's own address: that is how it knows who calls
            assertThat(caller.get(30, TimeUnit.SECONDS)).isEqualTo("127.0.33.22");
        }
    }

    /** A one-connection SOCKS5 proxy (no auth, CONNECT to IPv4): returns the client's source address. */
    private static String socks5Once(ServerSocket server) {
        try (Socket c = server.accept()) {
            DataInputStream in = new DataInputStream(c.getInputStream());
            OutputStream out = c.getOutputStream();
            in.readUnsignedByte();                                   // VER
            in.readNBytes(in.readUnsignedByte());                    // NMETHODS, METHODS
            out.write(new byte[] {5, 0});
            byte[] head = in.readNBytes(4);                          // VER CMD RSV ATYP
            assertThat(head[3]).as("IPv4 target").isEqualTo((byte) 1);
            byte[] addr = in.readNBytes(4);
            int port = in.readUnsignedShort();
            try (Socket target = new Socket(InetAddress.getByAddress(addr), port)) {
                out.write(new byte[] {5, 0, 0, 1, 0, 0, 0, 0, 0, 0});
                CompletableFuture<Void> up = CompletableFuture.runAsync(() -> pump(in, target));
                target.getInputStream().transferTo(out);
                c.shutdownOutput();   // reviews answered and closed: so does the proxy, towards productpage
                up.join();
            }
            return c.getInetAddress().getHostAddress();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void pump(InputStream in, Socket target) {
        try {
            in.transferTo(target.getOutputStream());
            target.shutdownOutput();
        } catch (IOException ignored) {
            // the other side closed first
        }
    }

    private Process demo(String... args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(java(), "-cp", System.getProperty("java.class.path"),
                DemoApps.class.getName()));
        cmd.addAll(List.of(args));
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        started.add(p);
        return p;
    }

    private int run(String... args) throws Exception {
        Process p = demo(args);
        p.getInputStream().readAllBytes();
        assertThat(p.waitFor(30, TimeUnit.SECONDS)).isTrue();
        return p.exitValue();
    }

    private static String firstLine(Process p) throws IOException {
        return new BufferedReader(new InputStreamReader(p.getInputStream(), StandardCharsets.UTF_8)).readLine();
    }

    private static InetSocketAddress free(String ip) throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getByName(ip))) {
            return new InetSocketAddress(ip, s.getLocalPort());
        }
    }

    private static String hostPort(InetSocketAddress a) {
        return a.getAddress().getHostAddress() + ":" + a.getPort();
    }

    private static String java() {
        return Path.of(System.getProperty("java.home"), "bin", "java").toString();
    }
}
