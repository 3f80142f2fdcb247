package io.jmesh.localmesh.demo;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Proxy;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import sun.misc.Signal;

/**
 * The demo workloads of {@code make run} and of {@code docker-compose.yml}, unmodified by the mesh: plain servers
 * bound to their own addresses. Only productpage knows the mesh exists, the way an app in local mode does: its
 * outbound call goes through its node's SOCKS5 listener from its own address, so the ztunnel can tell who is
 * calling.
 *
 * <ul>
 *   <li>productpage, HTTP on {@code 127.0.10.11:9080} (node-a): {@code GET /productpage} calls reviews
 *   <li>reviews, HTTP on {@code 127.0.20.11:9080} (node-b): {@code GET /reviews} answers JSON
 *   <li>echo, TCP on {@code 127.0.20.12:9000} (node-b): echoes every byte
 * </ul>
 *
 * <p>Arguments: {@code --apps productpage,reviews,echo} (which to run; default all: {@code make run} runs them in
 * one process, compose one per container), {@code --productpage|--reviews|--echo ip:port} (where each listens;
 * defaults above), {@code --reviews-url host:port} (what productpage asks for, default the reviews Service
 * hostname) and {@code --socks host:port} (productpage's node, default node-a's ztunnel).
 *
 * <p>{@code --probe ip:port[,ip:port]} instead runs a container healthcheck (the image has no shell): exit 0 when
 * every address accepts a TCP connection within 2 s, else 1. SIGTERM or SIGINT stops the apps with exit 0.
 */
public final class DemoApps {

    static final InetSocketAddress PRODUCTPAGE = new InetSocketAddress("127.0.10.11", 9080);
    static final InetSocketAddress REVIEWS = new InetSocketAddress("127.0.20.11", 9080);
    static final InetSocketAddress ECHO = new InetSocketAddress("127.0.20.12", 9000);
    static final Set<String> APPS = Set.of("productpage", "reviews", "echo");
    private static final int PROBE_TIMEOUT_MILLIS = 2_000;

    private DemoApps() {}

    public static void main(String[] args) throws IOException, InterruptedException {
        String reviewsTarget = "reviews.default.svc.cluster.local:9080";
        String socks = "127.0.10.1:15080";
        InetSocketAddress productpage = PRODUCTPAGE;
        InetSocketAddress reviews = REVIEWS;
        InetSocketAddress echo = ECHO;
        Set<String> apps = new LinkedHashSet<>(List.of("reviews", "productpage", "echo"));
        if (args.length % 2 != 0) {
            throw new IllegalArgumentException("argument: " + args[args.length - 1] + " has no value");
        }
        for (int i = 0; i + 1 < args.length; i += 2) {
            switch (args[i]) {
                case "--reviews-url" -> reviewsTarget = args[i + 1];
                case "--socks" -> socks = args[i + 1];
                case "--productpage" -> productpage = hostPort(args[i + 1], false);
                case "--reviews" -> reviews = hostPort(args[i + 1], false);
                case "--echo" -> echo = hostPort(args[i + 1], false);
                case "--apps" -> apps = apps(args[i + 1]);
                case "--probe" -> System.exit(probe(args[i + 1]));
                default -> throw new IllegalArgumentException("argument: " + args[i]
                        + " (expected: --apps a,b, --productpage|--reviews|--echo ip:port, --reviews-url host:port,"
                        + " --socks host:port, --probe ip:port[,ip:port])");
            }
        }
        ExecutorService pool = Executors.newFixedThreadPool(16, r -> {
            Thread t = new Thread(r, "demo");
            t.setDaemon(true);
            return t;
        });
        List<String> listening = new ArrayList<>();
        if (apps.contains("reviews")) {
            reviews(pool, reviews);
            listening.add("reviews " + reviews);
        }
        if (apps.contains("productpage")) {
            productpage(pool, productpage, hostPort(reviewsTarget, true), hostPort(socks, false));
            listening.add("productpage " + productpage);
        }
        if (apps.contains("echo")) {
            echo(echo);
            listening.add("echo " + echo);
        }
        for (String name : List.of("TERM", "INT")) {
            Signal.handle(new Signal(name), sig -> {
                System.out.println("demo apps stopping (SIG" + sig.getName() + ")");
                System.out.flush();
                System.exit(0);   // nothing to drain: plain request/response servers
            });
        }
        System.out.println("demo apps listening: " + String.join(", ", listening));
        System.out.flush();
        new CountDownLatch(1).await();   // until a signal ends the process
    }

    private static Set<String> apps(String list) {
        Set<String> apps = new LinkedHashSet<>();
        for (String a : list.split(",")) {
            String app = a.trim();
            if (!APPS.contains(app)) {
                throw new IllegalArgumentException("--apps: unknown app '" + app + "' (expected some of " + APPS + ")");
            }
            apps.add(app);
        }
        return apps;
    }

    /** The healthcheck: every address accepts a TCP connection (the app is listening). */
    static int probe(String addresses) {
        for (String a : addresses.split(",")) {
            InetSocketAddress target = hostPort(a.trim(), false);
            try (Socket s = new Socket()) {
                s.connect(target, PROBE_TIMEOUT_MILLIS);
            } catch (IOException e) {
                System.out.println("not listening: " + target + ": " + e.getMessage());
                return 1;
            }
        }
        System.out.println("listening: " + addresses);
        return 0;
    }

    private static void reviews(ExecutorService pool, InetSocketAddress address) throws IOException {
        HttpServer server = HttpServer.create(address, 128);
        server.setExecutor(pool);
        server.createContext("/", ex -> respond(ex, 200, "application/json",
                "{\"service\":\"reviews\",\"reviews\":[{\"reviewer\":\"Reviewer1\",\"stars\":5,"
                        + "\"text\":\"An extremely entertaining play by Shakespeare.\"}],\"seen_peer\":\""
                        + ex.getRemoteAddress().getAddress().getHostAddress() + "\"}\n"));
        server.start();
    }

    private static void productpage(ExecutorService pool, InetSocketAddress address, InetSocketAddress reviews,
            InetSocketAddress socks) throws IOException {
        HttpServer server = HttpServer.create(address, 128);
        server.setExecutor(pool);
        server.createContext("/", ex -> {
            try {
                String body = callThroughMesh(address, socks, reviews, "/reviews");
                respond(ex, 200, "application/json", "{\"service\":\"productpage\",\"reviews_answer\":"
                        + jsonString(body) + "}\n");
            } catch (IOException e) {
                respond(ex, 502, "application/json", "{\"service\":\"productpage\",\"error\":"
                        + jsonString("reviews unreachable through the mesh: " + e.getMessage()) + "}\n");
            }
        });
        server.start();
    }

    /** HTTP/1.1 GET through the node's SOCKS5 listener, from productpage's own address {@code from}. */
    static String callThroughMesh(InetSocketAddress from, InetSocketAddress socks, InetSocketAddress target,
            String path) throws IOException {
        try (Socket s = new Socket(new Proxy(Proxy.Type.SOCKS, socks))) {
            s.bind(new InetSocketAddress(from.getAddress(), 0));
            s.setSoTimeout(10_000);
            s.connect(target, 5_000);
            OutputStream out = s.getOutputStream();
            out.write(("GET " + path + " HTTP/1.1\r\nHost: " + target.getHostString() + "\r\nConnection: close\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.flush();
            String response = new String(s.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            int split = response.indexOf("\r\n\r\n");
            String status = response.lines().findFirst().orElse("");
            if (!status.contains(" 200 ")) {
                throw new IOException("reviews answered '" + status + "'");
            }
            return split < 0 ? "" : response.substring(split + 4).trim();
        }
    }

    private static void echo(InetSocketAddress address) throws IOException {
        ServerSocket server = new ServerSocket();
        server.bind(address, 128);
        Thread acceptor = new Thread(() -> {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    Thread t = new Thread(() -> pump(s), "echo-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return;
                }
            }
        }, "echo-accept");
        acceptor.setDaemon(true);
        acceptor.start();
    }

    private static void pump(Socket s) {
        try (s; InputStream in = s.getInputStream(); OutputStream out = s.getOutputStream()) {
            in.transferTo(out);
        } catch (IOException ignored) {
            // the peer went away; nothing to clean up beyond the socket
        }
    }

    private static void respond(HttpExchange ex, int status, String type, String body) throws IOException {
        byte[] bytes = body.getBytes(StandardCharsets.UTF_8);
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, bytes.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(bytes);
        }
    }

    private static String jsonString(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"").replace("\n", "\\n").replace("\r", "") + "\"";
    }

    private static InetSocketAddress hostPort(String s, boolean unresolved) {
        int colon = s.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("address: '" + s + "' (expected host:port)");
        }
        String host = s.substring(0, colon);
        int port = Integer.parseInt(s.substring(colon + 1));
        boolean literal = host.matches("[0-9.]+") || host.contains(":");
        // unresolved: the SOCKS5 request carries the hostname and the mesh resolves it (no local DNS)
        return unresolved && !literal ? InetSocketAddress.createUnresolved(host, port) : new InetSocketAddress(host, port);
    }
}
