package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.LeakWatch;
import io.jmesh.ztunnel.testing.FuzzNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SOCKS5 listener (15080) of a whole ztunnel against mutated greeting + request byte streams, each sent on its
 * own connection from a local workload and followed by a FIN. Oracle, per stream: within 5 s the client gets a
 * well-formed SOCKS5 answer and then the connection closes, or it is closed at once; "succeeded" only for a
 * complete CONNECT; every refusal moves {@code ztunnel_connection_rejections_total}. Every 50 streams a real
 * client still gets through; at the end no ByteBuf leaked, no I/O thread is stuck and no tunnel is left open.
 *
 * <p>Loopback only: before sending, any destination the stream would CONNECT to is pinned inside 127/8 (IPv4),
 * to ::1 (IPv6), or made a non-literal name (hostnames are only ever looked up in the mesh).
 */
@Tag("fuzz")
class Socks5Fuzz {

    static final Duration ANSWER_WITHIN = Duration.ofSeconds(5);
    static final int LIVENESS_EVERY = 50;

    @TempDir
    static Path dir;
    static FuzzNode node;

    @BeforeAll
    static void start() throws Exception {
        node = FuzzNode.start(dir, "127.0.150");
    }

    @AfterAll
    static void stop() throws Exception {
        node.close();
    }

    byte[][] seeds() throws IOException {
        byte[] echo = InetAddress.getByName(node.echoIp).getAddress();
        byte[] vip = InetAddress.getByName(node.vip).getAddress();
        byte[] v6 = InetAddress.getByName("::1").getAddress();
        return new byte[][] {
            concat(greeting(0), request(1, 1, echo, node.echoPort)),
            concat(greeting(0, 2), request(1, 3, name(FuzzNode.SERVICE), 80)),
            concat(greeting(0), request(1, 1, vip, 80), "early bytes".getBytes(StandardCharsets.US_ASCII)),
            concat(greeting(0), request(1, 4, v6, node.echoPort)),
            concat(greeting(0), request(2, 1, echo, node.echoPort)), // BIND: unsupported
            concat(greeting(2), request(1, 1, echo, node.echoPort)), // username/password only: unaccepted
            greeting(0, 1, 2),
        };
    }

    @Test
    void everyByteStreamIsAnsweredOrClosedAndEveryRefusalCounted() throws Exception {
        LeakWatch.reset();
        long[] sent = {0};
        Fuzzer.named("socks5", 300).seeds(seeds()).run(input -> {
            check(pinToLoopback(input));
            if (++sent[0] % LIVENESS_EVERY == 0) {
                node.assertSocksServes();
            }
        });
        node.assertSocksServes();
        node.assertHealthy();
        assertThat(LeakWatch.leaks()).isEmpty();
    }

    private void check(byte[] stream) throws Exception {
        Wire w = new Wire(stream);
        double refusedBefore = node.rejections(true);
        Answer a = exchange(stream);
        String what = "answer " + HexFormat.of().formatHex(a.bytes) + " (" + a.end + ")";
        assertThat(a.end).as(what + ": answered or closed within " + ANSWER_WITHIN).isNotEqualTo(End.TIMEOUT);
        assertThat(wellFormedPrefix(a.bytes)).as(what + ": a well-formed SOCKS5 answer").isTrue();
        if (a.end == End.SUCCEEDED) {
            assertThat(w.connect).as(what + ": success only for a complete CONNECT").isTrue();
            return;
        }
        if (a.end == End.CLOSED) {
            assertThat(a.bytes.length).as(what + ": a whole answer before the close").isIn(0, 2, 12);
            if (stream.length == 0 || stream[0] != 5) {
                assertThat(a.bytes).as(what + ": nothing answered to a non-SOCKS5 stream").isEmpty();
            } else if (w.greeted) {
                assertThat(a.bytes).as(what + ": the greeting is answered").hasSizeGreaterThanOrEqualTo(2);
                assertThat(a.bytes[1]).as(what + ": method").isEqualTo(w.noAuth ? (byte) 0 : (byte) 0xFF);
            }
        }
        if (node.rejections(true) == refusedBefore) {
            await("refusal counted in ztunnel_connection_rejections_total").atMost(Duration.ofSeconds(2))
                    .until(() -> node.rejections(true) > refusedBefore);
        }
    }

    enum End { CLOSED, RESET, SUCCEEDED, TIMEOUT }

    record Answer(byte[] bytes, End end) {}

    /** Sends {@code stream} and a FIN from the client workload, then reads until close, success or the deadline. */
    private Answer exchange(byte[] stream) throws IOException {
        try (Socket s = new Socket()) {
            s.bind(new InetSocketAddress(node.clientIp, 0));
            s.connect(node.socks(), 2_000);
            s.setSoTimeout(50);
            try {
                s.getOutputStream().write(stream);
                s.shutdownOutput();
            } catch (IOException e) {
                // refused and closed while we were still writing: what comes back is judged all the same
            }
            InputStream in = s.getInputStream();
            ByteArrayOutputStream got = new ByteArrayOutputStream();
            byte[] buf = new byte[512];
            long deadline = System.nanoTime() + ANSWER_WITHIN.toNanos();
            while (System.nanoTime() < deadline) {
                int n;
                try {
                    n = in.read(buf);
                } catch (SocketTimeoutException e) {
                    continue;
                } catch (IOException e) {
                    return new Answer(got.toByteArray(), End.RESET);
                }
                if (n < 0) {
                    return new Answer(got.toByteArray(), End.CLOSED);
                }
                got.write(buf, 0, n);
                byte[] b = got.toByteArray();
                if (b.length >= 12 && b[1] == 0 && b[3] == 0) {
                    return new Answer(b, End.SUCCEEDED); // relayed bytes may follow: not ours to judge
                }
            }
            return new Answer(got.toByteArray(), End.TIMEOUT);
        }
    }

    /**
     * A prefix of what ztunnel may answer: method selection {@code 05 00} or {@code 05 FF} (nothing after), then a
     * reply {@code 05 REP 00 01 0.0.0.0:0} with REP one of RFC 1928's codes.
     */
    static boolean wellFormedPrefix(byte[] b) {
        byte[] reply = {5, -1, 0, 1, 0, 0, 0, 0, 0, 0};
        if (b.length > 12 && b[3] != 0) {
            return false; // only a success is followed by more (the relayed bytes)
        }
        for (int i = 0; i < Math.min(b.length, 12); i++) {
            boolean ok = switch (i) {
                case 0 -> b[0] == 5;
                case 1 -> b[1] == 0 || b[1] == (byte) 0xFF;
                case 3 -> b[3] >= 0 && b[3] <= 8;
                default -> b[1] == 0 && b[i] == reply[i - 2];
            };
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /**
     * What a correct SOCKS5 server reads from a stream (RFC 1928): a complete greeting, whether it offers "no
     * authentication", where the request starts, and whether that request is a complete CONNECT.
     */
    static final class Wire {
        final boolean greeted;
        final boolean noAuth;
        final int request;
        final boolean connect;

        Wire(byte[] b) {
            greeted = b.length >= 2 && b[0] == 5 && u(b[1]) > 0 && b.length >= 2 + u(b[1]); // 1 to 255 methods
            boolean offered = false;
            for (int i = 2; greeted && i < 2 + u(b[1]); i++) {
                offered |= b[i] == 0;
            }
            noAuth = offered;
            request = greeted ? 2 + u(b[1]) : -1;
            int end = greeted && noAuth ? addressEnd(b, request) : -1;
            connect = end > 0 && b[request] == 5 && b[request + 1] == 1 && end + 2 <= b.length;
        }

        /** Offset just past the request's address, or -1 when the address type is unknown or not all there. */
        static int addressEnd(byte[] b, int r) {
            if (b.length < r + 5) {
                return -1;
            }
            return switch (b[r + 3]) {
                case 1 -> r + 8;
                case 4 -> r + 20;
                case 3 -> r + 5 + u(b[r + 4]);
                default -> -1;
            };
        }
    }

    /**
     * The stream with the destination its request names, if any, kept on loopback: an IPv4 address moved into
     * 127/8, an IPv6 one replaced by ::1, a name made of IP-literal characters only given a leading 'x'.
     */
    static byte[] pinToLoopback(byte[] in) {
        byte[] b = in.clone();
        Wire w = new Wire(b);
        int r = w.request;
        if (!w.noAuth || b.length < r + 5) {
            return b;
        }
        switch (b[r + 3]) {
            case 1 -> b[r + 4] = 127;
            case 4 -> {
                for (int i = r + 4; i < Math.min(b.length, r + 20); i++) {
                    b[i] = (byte) (i == r + 19 ? 1 : 0);
                }
            }
            case 3 -> {
                int end = Math.min(b.length, r + 5 + u(b[r + 4]));
                boolean literalChars = end > r + 5;
                for (int i = r + 5; i < end; i++) {
                    literalChars &= "0123456789abcdefABCDEF:.".indexOf(b[i]) >= 0;
                }
                if (literalChars) {
                    b[r + 5] = 'x';
                }
            }
            default -> { }
        }
        return b;
    }

    static byte[] greeting(int... methods) {
        byte[] g = new byte[2 + methods.length];
        g[0] = 5;
        g[1] = (byte) methods.length;
        for (int i = 0; i < methods.length; i++) {
            g[2 + i] = (byte) methods[i];
        }
        return g;
    }

    static byte[] request(int command, int addressType, byte[] address, int port) {
        return concat(new byte[] {5, (byte) command, 0, (byte) addressType}, address,
                new byte[] {(byte) (port >> 8), (byte) port});
    }

    static byte[] name(String host) {
        byte[] n = host.getBytes(StandardCharsets.US_ASCII);
        return concat(new byte[] {(byte) n.length}, n);
    }

    static byte[] concat(byte[]... parts) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        for (byte[] p : parts) {
            out.writeBytes(p);
        }
        return out.toByteArray();
    }

    private static int u(byte b) {
        return b & 0xFF;
    }
}
