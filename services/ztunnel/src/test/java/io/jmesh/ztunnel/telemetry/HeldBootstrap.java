package io.jmesh.ztunnel.telemetry;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;

/**
 * A Kafka bootstrap address on loopback that forwards to a real broker only once {@link #release released}: until
 * then it accepts connections and answers nothing, so a producer cannot fetch metadata, its {@code send} waits (up
 * to {@code max.block.ms}) and an {@code EventPublisher}'s queue fills behind it. Once released, held connections
 * and new ones are relayed to the broker, whose metadata then points the producer at the broker itself.
 */
final class HeldBootstrap implements AutoCloseable {

    private final ServerSocket server;
    private final String brokerHost;
    private final int brokerPort;
    private final CountDownLatch released = new CountDownLatch(1);
    private final List<Socket> sockets = new CopyOnWriteArrayList<>();

    /** @param broker {@code host:port} of the broker */
    HeldBootstrap(String broker) throws IOException {
        int colon = broker.lastIndexOf(':');
        brokerHost = broker.substring(0, colon);
        brokerPort = Integer.parseInt(broker.substring(colon + 1));
        server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
        daemon("held-bootstrap-accept", this::accept);
    }

    /** {@code 127.0.0.1:<port>}: the address to give the producer. */
    String address() {
        return server.getInetAddress().getHostAddress() + ":" + server.getLocalPort();
    }

    /** From now on, relays every connection (held ones too) to the broker. */
    void release() {
        released.countDown();
    }

    private void accept() {
        while (!server.isClosed()) {
            try {
                Socket client = server.accept();
                sockets.add(client);
                daemon("held-bootstrap-relay", () -> relay(client));
            } catch (IOException closed) {
                return;
            }
        }
    }

    private void relay(Socket client) {
        try {
            released.await();
            if (server.isClosed()) {
                closeQuietly(client);
                return;
            }
            Socket broker = new Socket(brokerHost, brokerPort);
            sockets.add(broker);
            daemon("held-bootstrap-copy", () -> copy(broker, client));
            copy(client, broker);
        } catch (IOException | InterruptedException e) {
            closeQuietly(client);
        }
    }

    /** Copies until either side ends, then closes both. */
    private static void copy(Socket from, Socket to) {
        byte[] buffer = new byte[16 * 1024];
        try (InputStream in = from.getInputStream(); OutputStream out = to.getOutputStream()) {
            for (int n = in.read(buffer); n >= 0; n = in.read(buffer)) {
                out.write(buffer, 0, n);
            }
        } catch (IOException ended) {
            // one side closed: the finally below ends the other
        } finally {
            closeQuietly(from);
            closeQuietly(to);
        }
    }

    private static void daemon(String name, Runnable r) {
        Thread t = new Thread(r, name);
        t.setDaemon(true);
        t.start();
    }

    private static void closeQuietly(Socket s) {
        try {
            s.close();
        } catch (IOException ignored) {
            // closing anyway
        }
    }

    @Override
    public void close() throws IOException {
        released.countDown();
        server.close();
        for (Socket s : sockets) {
            closeQuietly(s);
        }
    }
}
