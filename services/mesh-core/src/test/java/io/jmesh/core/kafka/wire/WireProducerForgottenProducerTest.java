package io.jmesh.core.kafka.wire;

import static io.jmesh.core.kafka.wire.ProducerRuns.drive;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.kafka.KafkaSettings;
import io.jmesh.core.kafka.wire.ProducerRuns.Outcomes;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/**
 * Two brokers that both refuse the producer's first id (UNKNOWN_PRODUCER_ID, as a broker that lost its producer
 * state answers), each for the partition it leads, with both requests in flight at once: the first refusal makes
 * the producer take a new id; the second, about a batch stamped with the id already given up, must be resent under
 * the new one too, not failed. Real Kafka 4 brokers no longer refuse a producer they forgot, so fakes play them.
 */
@Timeout(60)
class WireProducerForgottenProducerTest {

    private static final String TOPIC = "events";
    private static final long FIRST_ID = 1000;

    @Test
    void batchesRefusedByTwoBrokersUnderAGivenUpIdAreResentUnderTheNewOne() throws Exception {
        AtomicLong nextId = new AtomicLong(FIRST_ID);
        try (FakeBroker one = new FakeBroker(1, nextId); FakeBroker two = new FakeBroker(2, nextId)) {
            FakeBroker[] cluster = {one, two};
            one.cluster = cluster;
            two.cluster = cluster;
            WireProducer producer = new WireProducer(new KafkaSettings("127.0.0.1:" + one.port(), 1024,
                    Duration.ofSeconds(20)), "forgotten-test");
            Outcomes outcomes = new Outcomes();
            for (int i = 0; i < 40; i++) {
                producer.send(TOPIC, ("k" + i).getBytes(StandardCharsets.UTF_8), new byte[] {(byte) i},
                        outcomes.next());
            }
            drive(producer, () -> outcomes.done() == 40);
            assertThat(outcomes.failures).isEmpty();
            assertThat(outcomes.acknowledged).hasValue(40);
            assertThat(one.refused.get()).as("broker 1 refused the first id").isPositive();
            assertThat(two.refused.get()).as("broker 2 refused the first id").isPositive();
            assertThat(one.stored.get() + two.stored.get()).as("records taken under the new id").isEqualTo(40);
            assertThat(nextId.get()).as("one new id, not one per refusal").isEqualTo(FIRST_ID + 2);
            producer.close(Duration.ofSeconds(2));
        }
    }

    /**
     * Leads partition {@code id - 1} of {@link #TOPIC}; refuses batches of the first producer id, stores the rest
     * (counts their records). Answers each request of a connection in turn, a thread per connection.
     */
    private static final class FakeBroker implements AutoCloseable {
        final int id;
        final AtomicLong nextProducerId;
        final AtomicInteger refused = new AtomicInteger();
        final AtomicInteger stored = new AtomicInteger();
        final ServerSocket server;
        final List<Socket> sockets = new ArrayList<>();
        volatile FakeBroker[] cluster;

        FakeBroker(int id, AtomicLong nextProducerId) throws IOException {
            this.id = id;
            this.nextProducerId = nextProducerId;
            this.server = new ServerSocket(0, 50, InetAddress.getLoopbackAddress());
            Thread accept = new Thread(this::accept, "fake-broker-" + id);
            accept.setDaemon(true);
            accept.start();
        }

        int port() {
            return server.getLocalPort();
        }

        private void accept() {
            while (!server.isClosed()) {
                try {
                    Socket s = server.accept();
                    synchronized (sockets) {
                        sockets.add(s);
                    }
                    Thread t = new Thread(() -> serve(s), "fake-broker-" + id + "-conn");
                    t.setDaemon(true);
                    t.start();
                } catch (IOException e) {
                    return; // closed
                }
            }
        }

        private void serve(Socket s) {
            try (s) {
                DataInputStream in = new DataInputStream(s.getInputStream());
                DataOutputStream out = new DataOutputStream(s.getOutputStream());
                for (int requests = 0; requests < 1000; requests++) {
                    byte[] frame = new byte[in.readInt()];
                    in.readFully(frame);
                    ByteBuffer r = ByteBuffer.wrap(frame);
                    short api = r.getShort();
                    short version = r.getShort();
                    int correlation = r.getInt();
                    short clientId = r.getShort();
                    r.position(r.position() + Math.max(0, clientId));
                    byte[] body = answer(api, version, r);
                    out.writeInt(4 + body.length);
                    out.writeInt(correlation);
                    out.write(body);
                    out.flush();
                }
            } catch (IOException e) {
                // the producer hung up, or the test ended
            }
        }

        private byte[] answer(short api, short version, ByteBuffer request) throws IOException {
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            DataOutputStream w = new DataOutputStream(bytes);
            switch (api) {
                case BrokerConnection.API_VERSIONS -> {
                    w.writeShort(0);
                    short[][] apis = {{0, 3, 8}, {3, 4, 8}, {18, 0, 0}, {22, 0, 1}};
                    w.writeInt(apis.length);
                    for (short[] a : apis) {
                        w.writeShort(a[0]);
                        w.writeShort(a[1]);
                        w.writeShort(a[2]);
                    }
                }
                case BrokerConnection.METADATA -> {
                    w.writeInt(0); // throttle
                    FakeBroker[] brokers = cluster;
                    w.writeInt(brokers.length);
                    for (FakeBroker b : brokers) {
                        w.writeInt(b.id);
                        w.writeUTF("127.0.0.1");
                        w.writeInt(b.port());
                        w.writeShort(-1); // rack
                    }
                    w.writeUTF("fake-cluster");
                    w.writeInt(1); // controller
                    w.writeInt(1); // topics
                    w.writeShort(0);
                    w.writeUTF(TOPIC);
                    w.writeBoolean(false);
                    w.writeInt(brokers.length); // one partition per broker, led by it
                    for (int p = 0; p < brokers.length; p++) {
                        w.writeShort(0);
                        w.writeInt(p);
                        w.writeInt(brokers[p].id);
                        if (version >= 7) {
                            w.writeInt(0); // leader epoch
                        }
                        w.writeInt(1);
                        w.writeInt(brokers[p].id); // replicas
                        w.writeInt(1);
                        w.writeInt(brokers[p].id); // in sync
                        if (version >= 5) {
                            w.writeInt(0); // offline
                        }
                    }
                    if (version >= 8) {
                        w.writeInt(0); // topic authorized operations
                        w.writeInt(0); // cluster authorized operations
                    }
                }
                case BrokerConnection.INIT_PRODUCER_ID -> {
                    w.writeInt(0);
                    w.writeShort(0);
                    w.writeLong(nextProducerId.getAndIncrement());
                    w.writeShort(0);
                }
                case BrokerConnection.PRODUCE -> produce(version, request, w);
                default -> throw new IOException("unexpected api " + api);
            }
            return bytes.toByteArray();
        }

        private void produce(short version, ByteBuffer request, DataOutputStream w) throws IOException {
            short transactionalId = request.getShort();
            request.position(request.position() + Math.max(0, transactionalId));
            request.getShort(); // acks
            request.getInt(); // timeout
            int topics = request.getInt();
            w.writeInt(topics);
            for (int t = 0; t < topics; t++) {
                byte[] name = new byte[request.getShort()];
                request.get(name);
                w.writeUTF(new String(name, StandardCharsets.UTF_8));
                int partitions = request.getInt();
                w.writeInt(partitions);
                for (int p = 0; p < partitions; p++) {
                    int index = request.getInt();
                    int size = request.getInt();
                    int start = request.position();
                    long producerId = request.getLong(start + 43);
                    int records = request.getInt(start + 57);
                    request.position(start + size);
                    short error = 0;
                    if (producerId == FIRST_ID) {
                        refused.incrementAndGet();
                        error = KafkaErrors.UNKNOWN_PRODUCER_ID;
                    } else {
                        stored.addAndGet(records);
                    }
                    w.writeInt(index);
                    w.writeShort(error);
                    w.writeLong(error == 0 ? 0 : -1); // base offset
                    w.writeLong(-1); // log append time
                    if (version >= 5) {
                        w.writeLong(0); // log start offset
                    }
                    if (version >= 8) {
                        w.writeInt(0); // record errors
                        w.writeShort(-1); // error message
                    }
                }
            }
            w.writeInt(0); // throttle
        }

        @Override
        public void close() throws IOException {
            server.close();
            synchronized (sockets) {
                for (Socket s : sockets) {
                    s.close();
                }
            }
        }
    }
}
