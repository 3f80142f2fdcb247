package io.jmesh.core.kafka.wire;

import io.jmesh.core.kafka.EventSink;
import io.jmesh.core.kafka.KafkaSettings;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.locks.LockSupport;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * An idempotent Kafka producer of our own, for ztunnel: the four requests such a producer needs (ApiVersions,
 * Metadata, InitProducerId, Produce with record batches v2), on non-blocking connections the event publisher's sender
 * thread polls (at most one request in flight per broker, so a broker that stops answering holds back only the
 * partitions it leads). Kafka's Java client loads every request and response class of the protocol at start
 * (~1,200 classes, ~14 MiB resident in every ztunnel); this one is a handful.
 *
 * <p>What it keeps from Kafka's client: {@code acks=all}; records of a key go to the partition the Java client
 * would pick; per partition, batches go out one at a time, in order, each stamped once with the producer id and
 * its first sequence number and resent unchanged after an error a retry can cure or an unanswered request, so the
 * broker stores a retried batch once; the leader is asked again after a leadership error; a batch not acknowledged
 * within the delivery timeout fails; connections idle for nine minutes are closed before the broker closes them.
 * After a batch left unacknowledged (failed or expired), or when the broker no longer knows the producer's
 * sequence, it takes a new producer id, once no request is in flight, and numbers from zero, as Kafka's client bumps
 * its epoch. What it leaves out: compression, transactions, TLS and SASL to the broker (ztunnel's settings have
 * none), quota throttling.
 *
 * <p>Not thread-safe: one thread calls {@link #send}, {@link #sendDue} and {@link #close}; {@link #abort} may come
 * from any thread. {@link #sendDue} never waits on the network; while a connection connects or awaits an answer it
 * asks to be called again within 1 to 20 ms.
 */
public final class WireProducer implements EventSink {

    private static final Logger log = LoggerFactory.getLogger(WireProducer.class);
    private static final long BACKOFF_MIN_NANOS = Duration.ofMillis(100).toNanos();
    private static final long BACKOFF_MAX_NANOS = Duration.ofSeconds(1).toNanos();
    private static final long METADATA_MAX_AGE_NANOS = Duration.ofMinutes(5).toNanos();
    private static final long POLL_MIN_NANOS = Duration.ofMillis(1).toNanos();
    private static final long POLL_MAX_NANOS = Duration.ofMillis(20).toNanos();

    /** Kafka's default transaction timeout, sent with InitProducerId as its client does (unused without one). */
    private static final int TRANSACTION_TIMEOUT_MS = 60_000;
    private static final String METADATA = "metadata";
    private static final String PRODUCER_ID = "producer id";
    private static final String BROKER_SCOPE = "broker ";

    private final List<String[]> bootstrap = new ArrayList<>();
    private final String clientId;
    private final long lingerNanos;
    private final long deliveryNanos;
    private final int requestTimeoutMs;
    private final int connectTimeoutMs;
    private final int batchBytes;
    private final long maxHeldBytes;

    private final Map<Integer, String[]> nodes = new HashMap<>();
    private final Map<Integer, BrokerConnection> connections = new ConcurrentHashMap<>();
    private volatile BrokerConnection bootstrapConnection;
    private final Map<String, Topic> topics = new HashMap<>();
    private long producerId = -1;
    private short producerEpoch;
    private long producerIdNextAt;
    private int producerIdAttempts;
    private boolean metadataStale;
    private long metadataNextAt;
    private long metadataRefreshedAt;
    private int metadataAttempts;
    private long heldBytes;
    private boolean flushing;
    private volatile boolean aborted;
    private boolean metadataInFlight;
    private boolean producerIdInFlight;
    private int produceRequestsInFlight;
    /** Per broker (and -1 for the bootstrap addresses): when a connection may be tried again, and the failures. */
    private final Map<Integer, long[]> reconnects = new HashMap<>();
    private int nextBootstrap;
    /** How soon to look at connections again while one connects or awaits an answer; grows while nothing moves. */
    private long pollNanos = POLL_MIN_NANOS;
    /** What is failing now, by scope ("metadata", "producer id", "broker 2"), and the latest cause of all. */
    private final Map<String, String> troubles = new HashMap<>();
    private String problem;
    /** Tests: how many Produce answers to treat as lost after reading them (the batches are stored). */
    int answersToLose;
    /**
     * Brokers close connections idle for 10 minutes (their {@code connections.max.idle.ms}); ours close first, as
     * Kafka's client does, so that an idle broker is not taken for a failed one. Shorter in tests.
     */
    long connectionIdleMaxNanos = Duration.ofMinutes(9).toNanos();
    /** Connections opened so far, for tests. */
    int connectionsOpened;

    private static final class Topic {
        final String name;
        Partition[] partitions;
        final ArrayDeque<Unassigned> unassigned = new ArrayDeque<>();
        int sticky;
        short error;

        Topic(String name) {
            this.name = name;
        }
    }

    private static final class Partition {
        final ArrayDeque<RecordBatch> batches = new ArrayDeque<>();
        int leader = -1;
        int nextSequence;
    }

    /** A record of a topic whose partitions are not known yet. */
    private record Unassigned(byte[] key, byte[] value, long timestampMs, long deadlineNanos, Completion completion) {}

    public WireProducer(KafkaSettings settings, String clientId) {
        for (String server : settings.bootstrapServers().split(",")) {
            String s = server.trim();
            int colon = s.lastIndexOf(':');
            if (colon <= 0 || colon == s.length() - 1) {
                throw new IllegalArgumentException("kafka.bootstrapServers: '" + s + "' is not host:port");
            }
            String host = s.substring(0, colon);
            if (host.startsWith("[") && host.endsWith("]")) {
                host = host.substring(1, host.length() - 1);
            }
            try {
                Integer.parseInt(s.substring(colon + 1));
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException("kafka.bootstrapServers: '" + s + "' has no numeric port");
            }
            bootstrap.add(new String[] {host, s.substring(colon + 1)});
        }
        this.clientId = clientId;
        this.lingerNanos = KafkaSettings.LINGER.toNanos();
        this.batchBytes = KafkaSettings.BATCH_BYTES;
        this.deliveryNanos = settings.deliveryTimeout().toNanos();
        // a request waits at most half the delivery timeout, so a batch gets a second try within it
        this.requestTimeoutMs = (int) Math.min(30_000, settings.deliveryTimeout().toMillis() / 2);
        this.connectTimeoutMs = Math.min(5_000, requestTimeoutMs);
        this.maxHeldBytes = KafkaSettings.HELD_BYTES_MAX;
    }

    @Override
    public void send(String topic, byte[] key, byte[] value, Completion completion) {
        if (aborted) {
            completion.done(new IOException("kafka producer closed"));
            return;
        }
        long now = System.nanoTime();
        Topic t = topics.get(topic);
        if (t == null) {
            t = new Topic(topic);
            topics.put(topic, t);
            metadataStale = true;
            metadataNextAt = now;
        }
        heldBytes += RecordBatch.recordBytesMax(key, value);
        long timestamp = System.currentTimeMillis();
        if (t.partitions == null) {
            t.unassigned.add(new Unassigned(key, value, timestamp, now + deliveryNanos, completion));
        } else {
            append(t, key, value, timestamp, now, now + deliveryNanos, completion);
        }
    }

    private void append(Topic t, byte[] key, byte[] value, long timestampMs, long now, long deadline,
            Completion completion) {
        int n = t.partitions.length;
        int p;
        if (key != null) {
            p = KeyPartitioner.partition(key, n);
        } else {
            // records without a key fill one partition's batch, then move on (Kafka's sticky partitioning)
            RecordBatch open = t.partitions[t.sticky % n].batches.peekLast();
            if (open != null && !open.fits(null, value)) {
                t.sticky = (t.sticky + 1) % n;
            }
            p = t.sticky % n;
        }
        ArrayDeque<RecordBatch> batches = t.partitions[p].batches;
        RecordBatch last = batches.peekLast();
        if (last == null || !last.fits(key, value)) {
            if (last != null) {
                last.close();
            }
            last = new RecordBatch(p, batchBytes, now, deadline);
            batches.add(last);
        }
        last.add(key, value, timestampMs, completion);
        last.heldBytes += RecordBatch.recordBytesMax(key, value);
    }

    @Override
    public boolean canTake() {
        return heldBytes < maxHeldBytes;
    }

    @Override
    public long sendDue() {
        if (aborted) {
            failAll("kafka producer closed");
            return -1;
        }
        long now = System.nanoTime();
        boolean moved = pollConnections(now);
        expire(now);
        if (metadataWanted(now) && !metadataInFlight && now - metadataNextAt >= 0) {
            moved |= requestMetadata(now);
        }
        // a new producer id only once no batch is in flight: an answer to one still counts under the old id
        if (producerId < 0 && !producerIdInFlight && produceRequestsInFlight == 0 && hasBatches()
                && now - producerIdNextAt >= 0) {
            moved |= requestProducerId(now);
        }
        if (producerId >= 0) {
            moved |= sendReady(now);
        }
        now = System.nanoTime();
        boolean waiting = false;
        for (BrokerConnection c : allConnections()) {
            waiting |= c.poll(now); // writes what was just queued
        }
        moved |= dropFailed(now);
        long next = nextDue(now);
        if (!waiting) {
            pollNanos = POLL_MIN_NANOS;
            return next;
        }
        // something connects or awaits an answer: look again soon, sooner after progress
        pollNanos = moved ? POLL_MIN_NANOS : Math.min(POLL_MAX_NANOS, pollNanos * 2);
        return next < 0 || next > pollNanos ? pollNanos : Math.max(next, POLL_MIN_NANOS);
    }

    // ---- metadata -------------------------------------------------------------------------------------------

    private boolean metadataWanted(long now) {
        if (topics.isEmpty()) {
            return false;
        }
        if (metadataStale || now - metadataRefreshedAt > METADATA_MAX_AGE_NANOS) {
            return true;
        }
        for (Topic t : topics.values()) {
            if (t.partitions == null) {
                return true;
            }
        }
        return false;
    }

    /** Asks for the topics' partitions and leaders; false when no connection is ready for it yet. */
    private boolean requestMetadata(long now) {
        BrokerConnection c = idleConnection(now);
        if (c == null) {
            return false;
        }
        List<String> names = new ArrayList<>(topics.keySet());
        short v = c.version(BrokerConnection.METADATA);
        try {
            c.send(BrokerConnection.METADATA, v, w -> {
                w.int32(names.size());
                for (String name : names) {
                    w.string(name);
                }
                w.int8(1); // allow_auto_topic_creation, as Kafka's producer asks
                if (v >= 8) {
                    w.int8(0).int8(0); // no authorized operations
                }
            }, new BrokerConnection.Handler() {
                @Override
                public void answered(ProtocolReader r) throws IOException {
                    metadataInFlight = false;
                    long at = System.nanoTime();
                    applyMetadata(r, v, at);
                    recovered(METADATA);
                    forgetTroublesOfBrokersLeadingNothing();
                    metadataAttempts = 0;
                    metadataRefreshedAt = at;
                    metadataStale = false;
                    for (Topic t : topics.values()) {
                        if (t.partitions == null || hasLeaderless(t)) {
                            // ask again after a backoff: a new topic's leader is being elected
                            metadataStale = true;
                            metadataNextAt = at + backoff(metadataAttempts++);
                            break;
                        }
                    }
                }

                @Override
                public void failed(IOException why) {
                    metadataInFlight = false;
                    metadataStale = true;
                    metadataNextAt = System.nanoTime() + backoff(metadataAttempts++);
                    trouble(METADATA, "kafka metadata: " + why.getMessage());
                }
            });
        } catch (IOException e) {
            metadataStale = true;
            metadataNextAt = now + backoff(metadataAttempts++);
            trouble(METADATA, "kafka metadata: " + e.getMessage());
            return false;
        }
        metadataInFlight = true;
        return true;
    }

    private static boolean hasLeaderless(Topic t) {
        for (Partition p : t.partitions) {
            if (p.leader < 0) {
                return true;
            }
        }
        return false;
    }

    private void applyMetadata(ProtocolReader r, short v, long now) throws IOException {
        r.int32(); // throttle_time_ms
        Map<Integer, String[]> brokers = new HashMap<>();
        for (int i = 0, n = r.arrayLength(); i < n; i++) {
            int id = r.int32();
            String host = r.string();
            int port = r.int32();
            r.string(); // rack
            brokers.put(id, new String[] {host, Integer.toString(port)});
        }
        r.string(); // cluster_id
        r.int32(); // controller_id
        for (int i = 0, n = r.arrayLength(); i < n; i++) {
            short error = r.int16();
            String name = r.string();
            r.bool(); // is_internal
            Map<Integer, Integer> leaders = new HashMap<>();
            for (int j = 0, m = r.arrayLength(); j < m; j++) {
                short partitionError = r.int16();
                int index = r.int32();
                int leader = r.int32();
                if (v >= 7) {
                    r.int32(); // leader_epoch
                }
                r.skipInt32Array(); // replicas
                r.skipInt32Array(); // in-sync replicas
                if (v >= 5) {
                    r.skipInt32Array(); // offline replicas
                }
                leaders.put(index, partitionError == KafkaErrors.LEADER_NOT_AVAILABLE ? -1 : leader);
            }
            if (v >= 8) {
                r.int32(); // topic_authorized_operations
            }
            Topic t = topics.get(name);
            if (t != null) {
                applyTopic(t, error, leaders, now);
            }
        }
        nodes.clear();
        nodes.putAll(brokers);
        for (Iterator<Map.Entry<Integer, BrokerConnection>> it = connections.entrySet().iterator(); it.hasNext(); ) {
            Map.Entry<Integer, BrokerConnection> e = it.next();
            String[] node = brokers.get(e.getKey());
            if (node == null || !e.getValue().address.equals(node[0] + ":" + node[1])) {
                e.getValue().fail("left the cluster or moved"); // its request in flight, if any, is resent
                it.remove();
            }
        }
    }

    private void applyTopic(Topic t, short error, Map<Integer, Integer> leaders, long now) {
        t.error = error;
        if (error != KafkaErrors.NONE || leaders.isEmpty()) {
            if (!KafkaErrors.retriable(error) && error != KafkaErrors.NONE) {
                failUnassigned(t, "kafka refused topic " + t.name + ": " + KafkaErrors.describe(error));
            }
            return;
        }
        int count = leaders.size();
        if (t.partitions == null || t.partitions.length < count) {
            Partition[] grown = new Partition[count];
            for (int i = 0; i < count; i++) {
                grown[i] = t.partitions != null && i < t.partitions.length ? t.partitions[i] : new Partition();
            }
            t.partitions = grown;
        }
        for (int i = 0; i < t.partitions.length; i++) {
            t.partitions[i].leader = leaders.getOrDefault(i, -1);
        }
        while (!t.unassigned.isEmpty()) {
            Unassigned u = t.unassigned.poll();
            append(t, u.key(), u.value(), u.timestampMs(), now, u.deadlineNanos(), u.completion());
        }
    }

    // ---- producer id ------------------------------------------------------------------------------------------

    /** Asks for a producer id; false when no connection is ready for it yet. */
    private boolean requestProducerId(long now) {
        BrokerConnection c = idleConnection(now);
        if (c == null) {
            return false;
        }
        try {
            c.send(BrokerConnection.INIT_PRODUCER_ID, c.version(BrokerConnection.INIT_PRODUCER_ID),
                    w -> w.nullableString(null).int32(TRANSACTION_TIMEOUT_MS), new BrokerConnection.Handler() {
                        @Override
                        public void answered(ProtocolReader r) throws IOException {
                            producerIdInFlight = false;
                            r.int32(); // throttle_time_ms
                            short error = r.int16();
                            long id = r.int64();
                            short epoch = r.int16();
                            if (KafkaErrors.retriable(error)) {
                                // a broker just started is still loading its producer id state: ask again shortly,
                                // quietly
                                producerIdNextAt = System.nanoTime() + backoff(producerIdAttempts++);
                                return;
                            }
                            if (error != KafkaErrors.NONE) {
                                producerIdNextAt = System.nanoTime() + backoff(producerIdAttempts++);
                                trouble(PRODUCER_ID, "kafka producer id: " + c.address + " refused a producer id: "
                                        + KafkaErrors.describe(error));
                                return;
                            }
                            startProducer(id, epoch);
                        }

                        @Override
                        public void failed(IOException why) {
                            producerIdInFlight = false;
                            producerIdNextAt = System.nanoTime() + backoff(producerIdAttempts++);
                            trouble(PRODUCER_ID, "kafka producer id: " + why.getMessage());
                        }
                    });
        } catch (IOException e) {
            producerIdNextAt = now + backoff(producerIdAttempts++);
            trouble(PRODUCER_ID, "kafka producer id: " + e.getMessage());
            return false;
        }
        producerIdInFlight = true;
        return true;
    }

    private void startProducer(long id, short epoch) {
        producerId = id;
        producerEpoch = epoch;
        producerIdAttempts = 0;
        recovered(PRODUCER_ID);
        for (Topic t : topics.values()) {
            if (t.partitions != null) {
                for (Partition p : t.partitions) {
                    p.nextSequence = 0;
                }
            }
        }
    }

    /** Numbers start over under a new producer id: after a gap the broker would refuse the old sequence. */
    private void resetProducer() {
        producerId = -1;
        producerIdNextAt = System.nanoTime();
    }

    // ---- produce ----------------------------------------------------------------------------------------------

    /** Sends each partition's due head batch to its leader, one request per leader whose connection is free. */
    private boolean sendReady(long now) {
        Map<Integer, Map<Topic, List<RecordBatch>>> byLeader = new HashMap<>();
        for (Topic t : topics.values()) {
            if (t.partitions == null) {
                continue;
            }
            for (Partition p : t.partitions) {
                RecordBatch head = p.batches.peekFirst();
                if (head == null || head.inFlight || now - dueAt(head, p) < 0) {
                    continue;
                }
                if (p.leader < 0) {
                    metadataStale = true;
                    continue;
                }
                byLeader.computeIfAbsent(p.leader, k -> new LinkedHashMap<>())
                        .computeIfAbsent(t, k -> new ArrayList<>()).add(head);
            }
        }
        boolean sent = false;
        for (Map.Entry<Integer, Map<Topic, List<RecordBatch>>> e : byLeader.entrySet()) {
            if (producerId < 0) {
                break; // a failure reset the producer: the rest wait for a new id
            }
            BrokerConnection c = connection(e.getKey(), now);
            if (c != null && c.ready()) {
                sent |= produce(c, e.getValue());
            }
        }
        return sent;
    }

    private long dueAt(RecordBatch head, Partition p) {
        long ready = flushing || head.isClosed() || p.batches.size() > 1 ? head.createdNanos
                : head.createdNanos + lingerNanos;
        return head.attempts > 0 && head.retryAtNanos - ready > 0 ? head.retryAtNanos : ready;
    }

    private boolean produce(BrokerConnection c, Map<Topic, List<RecordBatch>> batches) {
        for (Map.Entry<Topic, List<RecordBatch>> e : batches.entrySet()) {
            for (RecordBatch b : e.getValue()) {
                if (b.stampedProducerId != producerId) {
                    Partition p = e.getKey().partitions[b.partition];
                    b.stamp(producerId, producerEpoch, p.nextSequence);
                    p.nextSequence = nextSequence(p.nextSequence, b.count());
                }
            }
        }
        int leader = c.nodeId;
        short v = c.version(BrokerConnection.PRODUCE);
        try {
            c.send(BrokerConnection.PRODUCE, v, w -> {
                w.nullableString(null).int16(-1).int32(requestTimeoutMs).int32(batches.size());
                for (Map.Entry<Topic, List<RecordBatch>> e : batches.entrySet()) {
                    w.string(e.getKey().name).int32(e.getValue().size());
                    for (RecordBatch b : e.getValue()) {
                        w.int32(b.partition).int32(b.sizeBytes()).raw(b.array(), 0, b.sizeBytes());
                    }
                }
            }, new BrokerConnection.Handler() {
                @Override
                public void answered(ProtocolReader r) throws IOException {
                    Map<String, Map<Integer, Short>> results = readProduceResponse(r, v);
                    if (answersToLose > 0) {
                        answersToLose--;
                        throw new IOException("answer lost (test)");
                    }
                    landed();
                    recovered(brokerScope(leader));
                    long at = System.nanoTime();
                    for (Map.Entry<Topic, List<RecordBatch>> e : batches.entrySet()) {
                        Map<Integer, Short> errors = results.getOrDefault(e.getKey().name, Map.of());
                        for (RecordBatch b : e.getValue()) {
                            Short error = errors.get(b.partition);
                            settle(e.getKey(), b, error == null ? (short) 13 : error, at);
                        }
                    }
                }

                @Override
                public void failed(IOException why) {
                    // unanswered: the batches may be stored; resent unchanged, the broker keeps one copy
                    landed();
                    metadataStale = true;
                    long at = System.nanoTime();
                    for (List<RecordBatch> list : batches.values()) {
                        for (RecordBatch b : list) {
                            retryLater(b, at);
                        }
                    }
                    trouble(brokerScope(leader), "kafka produce to broker " + leader + ": " + why.getMessage());
                }

                private boolean landed;

                /** The request is over (answered or failed, whichever comes first: once). */
                private void landed() {
                    if (landed) {
                        return;
                    }
                    landed = true;
                    produceRequestsInFlight--;
                    for (List<RecordBatch> list : batches.values()) {
                        for (RecordBatch b : list) {
                            b.inFlight = false;
                        }
                    }
                }
            });
        } catch (IOException e) {
            trouble(brokerScope(leader), "kafka produce to broker " + leader + ": " + e.getMessage());
            return false;
        }
        produceRequestsInFlight++;
        for (List<RecordBatch> list : batches.values()) {
            for (RecordBatch b : list) {
                b.inFlight = true;
            }
        }
        return true;
    }

    private static Map<String, Map<Integer, Short>> readProduceResponse(ProtocolReader r, short v)
            throws IOException {
        Map<String, Map<Integer, Short>> results = new HashMap<>();
        for (int i = 0, n = r.arrayLength(); i < n; i++) {
            String name = r.string();
            Map<Integer, Short> partitions = results.computeIfAbsent(name, k -> new HashMap<>());
            for (int j = 0, m = r.arrayLength(); j < m; j++) {
                int index = r.int32();
                short error = r.int16();
                r.int64(); // base_offset
                r.int64(); // log_append_time_ms
                if (v >= 5) {
                    r.int64(); // log_start_offset
                }
                if (v >= 8) {
                    for (int k = 0, errors = r.arrayLength(); k < errors; k++) {
                        r.int32();
                        r.string();
                    }
                    r.string(); // error_message
                }
                partitions.put(index, error);
            }
        }
        r.int32(); // throttle_time_ms
        return results;
    }

    private void settle(Topic t, RecordBatch b, short error, long now) {
        Partition p = t.partitions[b.partition];
        if (error == KafkaErrors.NONE || error == KafkaErrors.DUPLICATE_SEQUENCE_NUMBER) {
            p.batches.remove(b);
            heldBytes -= b.heldBytes;
            b.complete(null);
            return;
        }
        if (KafkaErrors.retriable(error)) {
            metadataStale |= KafkaErrors.staleMetadata(error);
            retryLater(b, now);
            return;
        }
        if (KafkaErrors.producerLost(error)) {
            // the broker lost this producer's state (or never had it): the batch was not stored; resent under a
            // new producer id, numbered from zero (asked for once; another broker's answer under the old id, in
            // flight meanwhile, waits for the same new id)
            if (producerId == b.stampedProducerId) {
                resetProducer();
            }
            retryLater(b, now);
            return;
        }
        fail(p, b, new IOException("kafka refused a batch of " + b.count() + " for " + t.name + "-" + b.partition
                + ": " + KafkaErrors.describe(error)));
    }

    private void retryLater(RecordBatch b, long now) {
        b.retryAtNanos = now + backoff(b.attempts++);
    }

    // ---- ending ---------------------------------------------------------------------------------------------

    private void expire(long now) {
        for (Topic t : topics.values()) {
            while (!t.unassigned.isEmpty() && now - t.unassigned.peek().deadlineNanos() > 0) {
                Unassigned u = t.unassigned.poll();
                heldBytes -= RecordBatch.recordBytesMax(u.key(), u.value());
                u.completion().done(new IOException("kafka: no partitions of " + t.name + " within the delivery "
                        + "timeout" + (problem == null ? "" : " (" + problem + ")")));
            }
            if (t.partitions == null) {
                continue;
            }
            for (Partition p : t.partitions) {
                // a batch in flight waits for its answer (bounded by the request timeout) before it can expire
                while (!p.batches.isEmpty() && !p.batches.peekFirst().inFlight
                        && now - p.batches.peekFirst().deadlineNanos > 0) {
                    fail(p, p.batches.peekFirst(), new IOException("kafka did not acknowledge within the delivery "
                            + "timeout" + (problem == null ? "" : " (" + problem + ")")));
                }
            }
        }
    }

    /** A batch leaves unacknowledged; if it was ever sent, the broker's sequence may now have a gap. */
    private void fail(Partition p, RecordBatch b, Exception why) {
        p.batches.remove(b);
        heldBytes -= b.heldBytes;
        if (b.stampedProducerId >= 0 && b.stampedProducerId == producerId) {
            resetProducer();
        }
        b.complete(why);
    }

    private void failUnassigned(Topic t, String why) {
        while (!t.unassigned.isEmpty()) {
            Unassigned u = t.unassigned.poll();
            heldBytes -= RecordBatch.recordBytesMax(u.key(), u.value());
            u.completion().done(new IOException(why));
        }
    }

    private void failAll(String why) {
        for (Topic t : topics.values()) {
            failUnassigned(t, why);
            if (t.partitions != null) {
                for (Partition p : t.partitions) {
                    while (!p.batches.isEmpty()) {
                        fail(p, p.batches.peekFirst(), new IOException(why));
                    }
                }
            }
        }
    }

    private boolean hasBatches() {
        for (Topic t : topics.values()) {
            if (t.partitions != null) {
                for (Partition p : t.partitions) {
                    if (!p.batches.isEmpty()) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    /**
     * Nanoseconds until the next thing is due, or -1 when nothing is held. What waits for a connection to connect or
     * answer is not counted here: the caller polls for that.
     */
    private long nextDue(long now) {
        long next = Long.MAX_VALUE;
        boolean held = false;
        for (Topic t : topics.values()) {
            if (!t.unassigned.isEmpty()) {
                held = true;
                next = Math.min(next, metadataInFlight ? Long.MAX_VALUE : metadataNextAt - now);
                next = Math.min(next, t.unassigned.peek().deadlineNanos() - now);
            }
            if (t.partitions == null) {
                continue;
            }
            for (Partition p : t.partitions) {
                RecordBatch head = p.batches.peekFirst();
                if (head == null) {
                    continue;
                }
                held = true;
                if (head.inFlight) {
                    continue;
                }
                next = Math.min(next, head.deadlineNanos - now);
                if ((p.leader < 0 || metadataStale) && !metadataInFlight) {
                    next = Math.min(next, metadataNextAt - now);
                }
                if (producerId < 0) {
                    if (!producerIdInFlight) {
                        next = Math.min(next, producerIdNextAt - now);
                    }
                } else if (p.leader >= 0) {
                    BrokerConnection c = connections.get(p.leader);
                    if (c == null) {
                        next = Math.min(next, Math.max(dueAt(head, p) - now, reconnectAt(p.leader, now) - now));
                    } else if (c.ready()) {
                        next = Math.min(next, dueAt(head, p) - now);
                    }
                }
            }
        }
        return held ? Math.max(0, next) : -1;
    }

    @Override
    public void close(Duration timeout) {
        long deadline = System.nanoTime() + timeout.toNanos();
        flushing = true;
        while (!aborted) {
            long wait = sendDue();
            long left = deadline - System.nanoTime();
            if (wait < 0 || left <= 0) {
                break;
            }
            LockSupport.parkNanos(this, Math.max(1_000_000, Math.min(wait, left)));
        }
        failAll("kafka producer closed before Kafka acknowledged");
        closeConnections();
    }

    @Override
    public void abort() {
        aborted = true;
        closeConnections();
    }

    private void closeConnections() {
        for (BrokerConnection c : allConnections()) {
            c.close();
        }
    }

    // ---- connections ----------------------------------------------------------------------------------------

    private List<BrokerConnection> allConnections() {
        List<BrokerConnection> all = new ArrayList<>(connections.values());
        BrokerConnection b = bootstrapConnection;
        if (b != null) {
            all.add(b);
        }
        return all;
    }

    /** Polls every connection: answers run their handlers; returns whether any answer or failure came. */
    private boolean pollConnections(long now) {
        boolean moved = false;
        for (BrokerConnection c : allConnections()) {
            if (c.idleFor(connectionIdleMaxNanos, now)) {
                // quietly: not a failure, the next request opens a new one
                c.close();
                connections.remove(c.nodeId, c);
                if (bootstrapConnection == c) {
                    bootstrapConnection = null;
                }
                continue;
            }
            boolean wasReady = c.ready();
            c.poll(now);
            moved |= c.ready() != wasReady || c.failed();
        }
        return dropFailed(now) | moved;
    }

    /**
     * Forgets connections that failed; their broker is tried again after a backoff. A failure with a request in
     * flight was already told to its handler; one while connecting or agreeing on versions is told here.
     */
    private boolean dropFailed(long now) {
        boolean dropped = false;
        for (BrokerConnection c : allConnections()) {
            if (!c.failed()) {
                if (c.ready()) {
                    reconnects.remove(c.nodeId);
                }
                continue;
            }
            dropped = true;
            connections.remove(c.nodeId, c);
            if (bootstrapConnection == c) {
                bootstrapConnection = null;
            }
            metadataStale = true;
            connectionFailed(c.nodeId, c.failure(), now);
        }
        return dropped;
    }

    /** A connection to {@code nodeId} (-1: a bootstrap address) failed: tried again after a backoff, reported once. */
    private void connectionFailed(int nodeId, IOException why, long now) {
        long[] r = reconnects.computeIfAbsent(nodeId, k -> new long[2]);
        r[0] = now + backoff((int) r[1]++);
        trouble(nodeId < 0 ? METADATA : brokerScope(nodeId), "kafka " + (nodeId < 0 ? "bootstrap address"
                : "broker " + nodeId) + ": " + why.getMessage());
    }

    /** When a connection to {@code nodeId} may be tried again: at once ({@code now}) unless one failed lately. */
    private long reconnectAt(int nodeId, long now) {
        long[] r = reconnects.get(nodeId);
        return r == null || now - r[0] >= 0 ? now : r[0];
    }

    /** The connection to {@code nodeId}, opened if need be and its backoff allows; null when none can be had now. */
    private BrokerConnection connection(int nodeId, long now) {
        BrokerConnection c = connections.get(nodeId);
        if (c != null) {
            return c;
        }
        String[] node = nodes.get(nodeId);
        if (node == null) {
            metadataStale = true; // a leader we have no address for
            return null;
        }
        if (reconnectAt(nodeId, now) != now) {
            return null;
        }
        c = open(nodeId, node[0], node[1], now);
        if (c != null) {
            connections.put(nodeId, c);
        }
        return c;
    }

    /**
     * A connection free for a metadata or producer id request: any ready one; else (null meanwhile, the caller asks
     * again on a later poll) a new one to a known broker that has none, so that a broker holding its connection busy
     * does not hold this request too, or, when nothing else is on its way, to a bootstrap address, tried in turn.
     */
    private BrokerConnection idleConnection(long now) {
        boolean pending = false;
        for (BrokerConnection c : allConnections()) {
            if (c.ready()) {
                return c;
            }
            pending |= !c.failed();
        }
        for (Integer nodeId : nodes.keySet()) {
            if (!connections.containsKey(nodeId) && connection(nodeId, now) != null) {
                return null;
            }
        }
        if (!pending && reconnectAt(-1, now) == now) {
            String[] address = bootstrap.get(Math.floorMod(nextBootstrap++, bootstrap.size()));
            bootstrapConnection = open(-1, address[0], address[1], now);
        }
        return null;
    }

    private BrokerConnection open(int nodeId, String host, String port, long now) {
        if (aborted) {
            return null;
        }
        try {
            connectionsOpened++;
            return BrokerConnection.open(nodeId, host, Integer.parseInt(port), clientId, connectTimeoutMs,
                    requestTimeoutMs + 5_000);
        } catch (IOException e) {
            connectionFailed(nodeId, e, now);
            return null;
        }
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    /** Kafka's sequence numbers wrap from Integer.MAX_VALUE to 0. */
    static int nextSequence(int sequence, int increment) {
        return sequence > Integer.MAX_VALUE - increment ? increment - (Integer.MAX_VALUE - sequence) - 1
                : sequence + increment;
    }

    private static long backoff(int attempts) {
        long base = Math.min(BACKOFF_MAX_NANOS, BACKOFF_MIN_NANOS << Math.min(attempts, 10));
        return base - ThreadLocalRandom.current().nextLong(base / 5 + 1);
    }

    /**
     * Logs the first failure of an outage; later ones, of any scope, only update the cause. The outage ends, with one
     * line, when every scope that failed has worked again (or, for a broker, leads nothing any more): a broker that
     * is down while another serves its partitions' neighbours is one outage, not a warning per retry.
     */
    private void trouble(String scope, String what) {
        if (troubles.isEmpty()) {
            log.atWarn().addKeyValue("client", clientId).log("{}: events wait, then are dropped and counted", what);
        }
        troubles.put(scope, what);
        problem = what;
    }

    private void recovered(String scope) {
        if (troubles.remove(scope) != null && troubles.isEmpty()) {
            log.atInfo().addKeyValue("client", clientId).log("kafka reachable again");
            problem = null;
        }
    }

    /** A broker that failed and then lost its partitions' leadership will not be asked again: not a failure now. */
    private void forgetTroublesOfBrokersLeadingNothing() {
        for (String scope : List.copyOf(troubles.keySet())) {
            if (scope.startsWith(BROKER_SCOPE) && !leadsAny(Integer.parseInt(scope.substring(BROKER_SCOPE.length())))) {
                recovered(scope);
            }
        }
    }

    private boolean leadsAny(int broker) {
        for (Topic t : topics.values()) {
            if (t.partitions != null) {
                for (Partition p : t.partitions) {
                    if (p.leader == broker) {
                        return true;
                    }
                }
            }
        }
        return false;
    }

    private static String brokerScope(int broker) {
        return BROKER_SCOPE + broker;
    }

    /** Bytes of events held (not yet acknowledged), for tests. */
    long heldBytes() {
        return heldBytes;
    }

    /** What the producer holds and knows, for tests' failure messages. */
    String state() {
        StringBuilder b = new StringBuilder("producer id ").append(producerId).append(", held ").append(heldBytes)
                .append(" bytes, troubles ").append(troubles).append(", metadata stale ").append(metadataStale)
                .append(", nodes ").append(nodes.keySet()).append(", connections ").append(connections.keySet());
        for (Topic t : topics.values()) {
            b.append(", ").append(t.name).append(": ").append(t.unassigned.size()).append(" unassigned");
            if (t.partitions != null) {
                for (int i = 0; i < t.partitions.length; i++) {
                    Partition p = t.partitions[i];
                    RecordBatch head = p.batches.peekFirst();
                    b.append(", [").append(i).append(" leader ").append(p.leader).append(", ")
                            .append(p.batches.size()).append(" batches")
                            .append(head == null ? "" : ", head attempts " + head.attempts).append(']');
                }
            }
        }
        return b.toString();
    }

    /** The broker this producer believes leads a partition (-1 unknown), for tests. */
    int leaderOf(String topic, int partition) {
        Topic t = topics.get(topic);
        return t == null || t.partitions == null || partition >= t.partitions.length ? -1
                : t.partitions[partition].leader;
    }
}
