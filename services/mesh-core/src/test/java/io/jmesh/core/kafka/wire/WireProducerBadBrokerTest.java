package io.jmesh.core.kafka.wire;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.kafka.KafkaSettings;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.IntFunction;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Brokers that answer what the producer cannot use: each event fails at its delivery deadline with the reason
 * named, and nothing hangs.
 */
@Timeout(60)
class WireProducerBadBrokerTest {

    @Test
    void aBrokerSpeakingNoneOfOurProduceVersionsIsNamed() throws Exception {
        // ApiVersions v0: no error, Produce 0-2 only (older than the record batches we write), the rest current
        List<String> failures = sendTwoAgainst(correlation -> frame(correlation, out -> {
            out.writeShort(0);
            short[][] apis = {{0, 0, 2}, {3, 0, 12}, {18, 0, 3}, {22, 0, 4}};
            out.writeInt(apis.length);
            for (short[] api : apis) {
                out.writeShort(api[0]);
                out.writeShort(api[1]);
                out.writeShort(api[2]);
            }
        }));
        assertThat(failures).hasSize(2).allSatisfy(f -> assertThat(f)
                .contains("delivery timeout").contains("speaks Produce versions 0-2, this producer 3-8"));
    }

    @Test
    void anAnswerToAnotherRequestIsRefused() throws Exception {
        List<String> failures = sendTwoAgainst(correlation -> frame(correlation + 7, out -> out.writeShort(0)));
        assertThat(failures).hasSize(2).allSatisfy(f -> assertThat(f)
                .contains("delivery timeout").containsPattern("answered correlation id \\d+ to request \\d+"));
    }

    @Test
    void aTruncatedAnswerIsRefused() throws Exception {
        // says it carries an array of 1,000 entries, then ends
        List<String> failures = sendTwoAgainst(correlation -> frame(correlation, out -> {
            out.writeShort(0);
            out.writeInt(1000);
        }));
        assertThat(failures).hasSize(2).allSatisfy(f -> assertThat(f)
                .contains("delivery timeout").contains("answering ApiVersions: array of 1000 elements in 0 bytes"));
    }

    /** Runs a fake broker that answers every request with {@code answer(correlation id)}; returns the failures. */
    private static List<String> sendTwoAgainst(IntFunction<byte[]> answer) throws Exception {
        try (ServerSocket server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress())) {
            Thread broker = new Thread(() -> serve(server, answer), "fake-broker");
            broker.setDaemon(true);
            broker.start();
            WireProducer producer = new WireProducer(new KafkaSettings("127.0.0.1:" + server.getLocalPort(), 16,
                    Duration.ofSeconds(2)), "bad-broker-test");
            List<String> failures = new ArrayList<>();
            int[] acknowledged = {0};
            for (int i = 0; i < 2; i++) {
                producer.send("events", new byte[] {(byte) i}, new byte[] {1}, failure -> {
                    if (failure == null) {
                        acknowledged[0]++;
                    } else {
                        failures.add(failure.getMessage());
                    }
                });
            }
            long deadline = System.nanoTime() + Duration.ofSeconds(20).toNanos();
            while (failures.size() + acknowledged[0] < 2 && System.nanoTime() < deadline) {
                long due = producer.sendDue();
                Thread.sleep(due < 0 ? 5 : Math.max(1, Math.min(20, due / 1_000_000)));
            }
            assertThat(acknowledged[0]).isZero();
            assertThat(producer.heldBytes()).isZero();
            producer.close(Duration.ofMillis(100));
            return failures;
        }
    }

    /** Accepts connections until the server socket closes; answers each request frame once. */
    private static void serve(ServerSocket server, IntFunction<byte[]> answer) {
        while (!server.isClosed()) {
            try (Socket s = server.accept()) {
                s.setSoTimeout(5000);
                DataInputStream in = new DataInputStream(s.getInputStream());
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                for (int requests = 0; requests < 100; requests++) {
                    byte[] request = new byte[in.readInt()];
                    in.readFully(request);
                    int correlation = ((request[4] & 0xff) << 24) | ((request[5] & 0xff) << 16)
                            | ((request[6] & 0xff) << 8) | (request[7] & 0xff);
                    out.write(answer.apply(correlation));
                    out.flush();
                }
            } catch (IOException e) {
                // the producer hung up (as it should after a bad answer), or the test ended
            }
        }
    }

    private interface Body {
        void write(DataOutputStream out) throws IOException;
    }

    private static byte[] frame(int correlation, Body body) {
        try {
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            DataOutputStream out = new DataOutputStream(bytes);
            out.writeInt(correlation);
            body.write(out);
            java.io.ByteArrayOutputStream framed = new java.io.ByteArrayOutputStream();
            DataOutputStream f = new DataOutputStream(framed);
            f.writeInt(bytes.size());
            f.write(bytes.toByteArray());
            return framed.toByteArray();
        } catch (IOException e) {
            throw new IllegalStateException(e);
        }
    }
}
