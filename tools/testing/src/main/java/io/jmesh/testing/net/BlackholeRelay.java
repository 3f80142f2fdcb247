package io.jmesh.testing.net;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A TCP relay on loopback that can turn the connections it carries into half-open ones: after {@link #blackhole}
 * it goes on reading both sides of each connection open then but forwards nothing and closes nothing, as when a
 * peer's node vanished or a NAT dropped the flow's state. Both ends see a healthy socket; only a keepalive can tell.
 * Connections accepted afterwards are relayed normally (the new path a reconnect takes).
 */
public final class BlackholeRelay implements AutoCloseable {

    private final ServerSocket listener;
    private final InetSocketAddress target;
    private final List<Pair> pairs = new CopyOnWriteArrayList<>();
    private final AtomicInteger accepted = new AtomicInteger();

    private BlackholeRelay(ServerSocket listener, InetSocketAddress target) {
        this.listener = listener;
        this.target = target;
    }

    /** Relays 127.0.0.1:{@link #port()} to {@code host:port}. */
    public static BlackholeRelay to(String host, int port) throws IOException {
        ServerSocket s = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        BlackholeRelay relay = new BlackholeRelay(s, new InetSocketAddress(host, port));
        Thread t = new Thread(relay::acceptLoop, "blackhole-relay-accept");
        t.setDaemon(true);
        t.start();
        return relay;
    }

    public int port() {
        return listener.getLocalPort();
    }

    /** Connections accepted so far. */
    public int accepted() {
        return accepted.get();
    }

    /** From now on, every connection open now forwards nothing either way and stays open. */
    public void blackhole() {
        pairs.forEach(p -> p.blackholed = true);
    }

    private void acceptLoop() {
        while (!listener.isClosed()) {
            try {
                Socket in = listener.accept();
                accepted.incrementAndGet();
                Socket out = new Socket();
                out.connect(target, 5_000);
                Pair p = new Pair(in, out);
                pairs.add(p);
                p.start();
            } catch (IOException e) {
                // listener closed, or the target refused: the accepted socket is dropped with it
            }
        }
    }

    @Override
    public void close() throws IOException {
        listener.close();
        for (Pair p : pairs) {
            p.close();
        }
    }

    private static final class Pair {
        final Socket a;
        final Socket b;
        volatile boolean blackholed;

        Pair(Socket a, Socket b) {
            this.a = a;
            this.b = b;
        }

        void start() {
            pump(a, b);
            pump(b, a);
        }

        private void pump(Socket from, Socket to) {
            Thread t = new Thread(() -> {
                byte[] buf = new byte[16 * 1024];
                // not closed by a try-with-resources: closing a socket's stream closes the socket, and after the
                // blackhole `to` must stay open
                try {
                    InputStream in = from.getInputStream();
                    OutputStream out = to.getOutputStream();
                    // ends at EOF or when either socket closes
                    for (int n = in.read(buf); n >= 0; n = in.read(buf)) {
                        if (!blackholed) {
                            out.write(buf, 0, n);
                            out.flush();
                        }
                    }
                } catch (IOException e) {
                    // a side closed
                } finally {
                    // a close after the blackhole is lost on the way, as a FIN is: only this side goes
                    if (blackholed) {
                        quietly(from);
                    } else {
                        close();
                    }
                }
            }, "blackhole-relay-pump");
            t.setDaemon(true);
            t.start();
        }

        void close() {
            quietly(a);
            quietly(b);
        }

        private static void quietly(Socket s) {
            try {
                s.close();
            } catch (IOException ignored) {
                // closing anyway
            }
        }
    }
}
