package io.jmesh.telemetry.ingest;

import io.jmesh.core.kafka.TopicReplication;
import io.jmesh.telemetry.TelemetryConfig.IngestConfig;
import io.jmesh.telemetry.aggregate.Expired;
import io.jmesh.telemetry.aggregate.IstioLabels;
import io.jmesh.telemetry.aggregate.MeshTotals;
import io.jmesh.telemetry.aggregate.PartitionAggregate;
import io.jmesh.telemetry.aggregate.RemovedLabels;
import io.jmesh.telemetry.aggregate.SeriesKey;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.nio.charset.StandardCharsets;
import java.time.Clock;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.UUID;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Consumes the event topics as a member of the telemetry consumer group and counts every event exactly once,
 * although Kafka delivers at least once.
 *
 * <p>How: each owned partition has a {@link PartitionAggregate}. Every {@code commitInterval} one Kafka
 * transaction carries the aggregates changed since the last commit (to the compacted checkpoint topic), the
 * dead letters, and the consumer offsets ({@code sendOffsetsToTransaction}, fenced by the group generation). A
 * partition's checkpoint and its committed offset therefore always agree. Whoever owns a partition next (this
 * replica after a restart, another one after a rebalance) loads the latest committed checkpoint and seeks to
 * its offset: the records after it are counted, the ones before it are already in it. When a transaction fails
 * for any reason, the producer is recreated (which resolves the pending transaction) and every owned partition
 * is rewound to its committed checkpoint, so nothing half-counted survives.
 *
 * <p>Threading: one dedicated thread runs the poll loop, the rebalance callbacks and all Kafka clients; it
 * never touches an event loop. Readers get the immutable {@link #totals()} published after each commit.
 *
 * <p>Bad records are never retried: each is sent to the dead-letter topic (in the same transaction) with
 * headers naming the reason, counted, and its offset is passed, so a partition never stalls.
 */
public final class EventIngestor implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EventIngestor.class);
    private static final Duration POLL = Duration.ofMillis(100);
    private static final Duration KAFKA_TIMEOUT = Duration.ofSeconds(30);
    private static final long RETRY_BACKOFF_MILLIS = 500;
    /** How often a partition held for an unreadable checkpoint looks at its checkpoint again. */
    private static final long HELD_RETRY_NANOS = Duration.ofSeconds(10).toNanos();

    /** Dead-letter headers. */
    public static final String HEADER_REASON = "jmesh.dlq.reason";
    public static final String HEADER_DETAIL = "jmesh.dlq.detail";
    public static final String HEADER_TOPIC = "jmesh.dlq.topic";
    public static final String HEADER_PARTITION = "jmesh.dlq.partition";
    public static final String HEADER_OFFSET = "jmesh.dlq.offset";

    /** The reason of an event that needed a series its partition's checkpoint had no room for. */
    static final String SERIES_LIMIT = "series_limit";
    /** The reason of an event whose bytes would take its series' byte counter past {@link Long#MAX_VALUE}. */
    static final String COUNTER_OVERFLOW = "counter_overflow";
    /** The reason of a record whose counting failed in a way no validation foresaw (a bug: the record is kept). */
    static final String INTERNAL_ERROR = "internal_error";

    private final IngestConfig config;
    private final long ttlMillis;
    private final long openTtlMillis;
    private final Clock clock;
    private final IngestListener listener;
    /** The labels the aggregates count without ({@code metrics.removeLabels}); the listener still sees them all. */
    private final RemovedLabels removed;
    private final IngestMetrics metrics;
    private final EventDecoder decoder;
    private final String transactionalId;
    private final AtomicReference<MeshTotals> published = new AtomicReference<>(MeshTotals.EMPTY);
    private final CompletableFuture<Void> ready = new CompletableFuture<>();
    private final CompletableFuture<Void> stopped = new CompletableFuture<>();
    private final Thread thread;
    private volatile boolean running = true;
    private volatile Set<TopicPartition> assignment = Set.of();

    // owned by the ingest thread
    private KafkaConsumer<byte[], byte[]> consumer;
    private KafkaProducer<byte[], byte[]> producer;
    private CheckpointStore checkpoints;
    private final Map<TopicPartition, PartitionAggregate> owned = new HashMap<>();
    private final Set<TopicPartition> dirty = new HashSet<>();
    /** Assigned partitions not counted because their checkpoint cannot be read, with why; paused meanwhile. */
    private final Map<TopicPartition, String> held = new HashMap<>();
    /**
     * Where each partition's backlog ended when it was loaded (its end offset then): until it has been read up to
     * there, its series do not expire, since events of theirs may wait in it (after an outage longer than the
     * TTL, all of them would).
     */
    private final Map<TopicPartition, Long> backlogEnd = new HashMap<>();
    private boolean inTransaction;
    private boolean needsRewind;
    private final Map<String, CounterDataPoint> counted = new HashMap<>();

    private EventIngestor(IngestConfig config, Duration seriesTtl, Duration openSeriesTtl, RemovedLabels removed,
            Clock clock, IngestListener listener, PrometheusRegistry registry) {
        this.config = config;
        this.removed = removed;
        this.ttlMillis = seriesTtl.toMillis();
        this.openTtlMillis = openSeriesTtl.toMillis();
        this.clock = clock;
        this.listener = listener;
        this.metrics = new IngestMetrics(registry);
        this.decoder = new EventDecoder(config.connectionTopic(), config.requestTopic());
        String instance = config.instanceId().isEmpty() ? UUID.randomUUID().toString() : config.instanceId();
        this.transactionalId = config.groupId() + "-" + instance;
        for (String topic : List.of(config.connectionTopic(), config.requestTopic())) {
            counted.put(topic, metrics.records.labelValues(topic, "counted"));
            // zero series: the dead-letter panel and alerts have data before the first bad record
            for (String reason : EventDecoder.REJECTION_REASONS) {
                metrics.rejected.labelValues(topic, reason);
            }
            metrics.rejected.labelValues(topic, SERIES_LIMIT);
            if (topic.equals(config.connectionTopic())) { // request events hold no counter an event can overflow
                metrics.rejected.labelValues(topic, COUNTER_OVERFLOW);
            }
            metrics.rejected.labelValues(topic, INTERNAL_ERROR);
        }
        this.thread = new Thread(this::run, "telemetry-ingest");
        this.thread.setDaemon(true);
    }

    /**
     * Starts the ingest thread; {@link #ready()} completes once topics exist and the group is joined.
     *
     * @param seriesTtl a series not updated for this long is removed
     * @param openSeriesTtl the same for a TCP series with connections still open (whose close is not seen yet)
     */
    public static EventIngestor start(IngestConfig config, Duration seriesTtl, Duration openSeriesTtl, Clock clock,
            IngestListener listener, PrometheusRegistry registry) {
        return start(config, seriesTtl, openSeriesTtl, RemovedLabels.NONE, clock, listener, registry);
    }

    /**
     * As {@link #start(IngestConfig, Duration, Duration, Clock, IngestListener, PrometheusRegistry)}, counting
     * without the {@code removed} labels ({@code metrics.removeLabels}).
     */
    public static EventIngestor start(IngestConfig config, Duration seriesTtl, Duration openSeriesTtl,
            RemovedLabels removed, Clock clock, IngestListener listener, PrometheusRegistry registry) {
        if (!config.enabled()) {
            throw new IllegalArgumentException("kafka.bootstrapServers: '' (expected: a broker to ingest from)");
        }
        EventIngestor ingestor = new EventIngestor(config, seriesTtl, openSeriesTtl, removed, clock, listener,
                registry);
        ingestor.thread.start();
        return ingestor;
    }

    /** The aggregates of the owned partitions as last committed. */
    public MeshTotals totals() {
        return published.get();
    }

    /** Partitions currently owned (as of the last rebalance). */
    public Set<TopicPartition> assignment() {
        return assignment;
    }

    public CompletionStage<Void> ready() {
        return ready;
    }

    /**
     * Completes when the ingest thread has stopped: normally after {@link #close}, exceptionally when an error
     * stopped it (nothing is counted any more; readiness should say so).
     */
    public CompletionStage<Void> stopped() {
        return stopped;
    }

    /** Commits what was counted, leaves the group and stops the thread (blocks up to ~30 s: not on a loop). */
    @Override
    public void close() {
        running = false;
        ConsumerThread.stop(consumer, thread, Duration.ofSeconds(30));
    }

    // ---- the ingest thread -------------------------------------------------------------------------------------

    private void run() {
        try {
            if (!retry("create topics", this::ensureTopics)
                    || !retry("start transactional producer", this::createProducer)) {
                return;
            }
            checkpoints = new CheckpointStore(config.bootstrapServers(), config.checkpointTopic(), config.groupId(),
                    removed);
            consumer = newConsumer();
            consumer.subscribe(List.of(config.connectionTopic(), config.requestTopic()), new Rebalance());
            ready.complete(null);
            log.atInfo().addKeyValue("group", config.groupId()).addKeyValue("transactionalId", transactionalId)
                    .addKeyValue("removedLabels", removed.names()).log("ingesting");
            loop();
        } catch (RuntimeException e) {
            log.atError().setCause(e).log("ingest thread stopped: {}", e.getMessage());
            ready.completeExceptionally(e);
            stopped.completeExceptionally(e);
        } finally {
            shutdown();
            stopped.complete(null);
        }
    }

    private void loop() {
        long commitNanos = config.commitInterval().toNanos();
        long lastCommit = System.nanoTime();
        long lastHeldRetry = System.nanoTime();
        while (running) {
            try {
                if (producer == null && !createProducerOnce()) {
                    pause();
                    continue;
                }
                if (needsRewind && !rewind()) {
                    pause();
                    continue;
                }
                ConsumerRecords<byte[], byte[]> records = consumer.poll(POLL);
                long now = clock.millis(); // after the poll, which may have waited
                for (ConsumerRecord<byte[], byte[]> r : records) {
                    handle(r, now);
                }
                if (System.nanoTime() - lastCommit >= commitNanos) {
                    expire(clock.millis());
                    commit(clock.millis());
                    lastCommit = System.nanoTime();
                }
                if (!held.isEmpty() && System.nanoTime() - lastHeldRetry >= HELD_RETRY_NANOS) {
                    lastHeldRetry = System.nanoTime();
                    retryHeld();
                }
            } catch (WakeupException e) {
                // close() asked us to stop; the loop condition ends it
            } catch (KafkaException e) {
                fail("kafka error", e);
            }
        }
    }

    private void handle(ConsumerRecord<byte[], byte[]> r, long now) {
        TopicPartition tp = new TopicPartition(r.topic(), r.partition());
        PartitionAggregate agg = owned.get(tp);
        if (agg == null || r.offset() < agg.nextOffset()) {
            return; // not ours any more, or already inside the checkpoint we resumed from
        }
        try {
            count(agg, r, now);
        } catch (KafkaException e) { // Kafka's own (WakeupException included): the loop's to handle
            throw e;
        } catch (RuntimeException e) {
            // a record nothing rejected but counting failed on: kept for a look, and the partition goes on
            log.atError().setCause(e).addKeyValue("topic", r.topic()).addKeyValue("partition", r.partition())
                    .addKeyValue("offset", r.offset()).log("counting a record failed");
            deadLetter(r, new DecodedEvent.Rejected(INTERNAL_ERROR, "counting this record failed: " + e));
        }
        agg.advanceTo(r.offset());
        dirty.add(tp);
    }

    /**
     * Counts a record whole or not at all: whatever may refuse it or throw (decoding, the series limit, the
     * listener) runs before the aggregate changes, so a record dead-lettered as {@code internal_error} is in no
     * counter, and replaying its dead letter counts it once. (Before, the aggregate counted it first, then the
     * listener threw: the record was both counted and dead-lettered.)
     */
    private void count(PartitionAggregate agg, ConsumerRecord<byte[], byte[]> r, long now) {
        DecodedEvent d = decoder.decode(r.topic(), r.value());
        if (d instanceof DecodedEvent.Connection c) {
            SeriesKey series = agg.admit(c.event());
            String overflow = series == null ? null : agg.overflow(c.event(), series);
            if (series == null) {
                deadLetter(r, seriesLimit(agg));
            } else if (overflow != null) {
                deadLetter(r, new DecodedEvent.Rejected(COUNTER_OVERFLOW, overflow));
            } else {
                // the graph reads the workloads and services of every series, removed labels or not
                listener.onConnection(c.event(), removed.isEmpty() ? series : IstioLabels.of(c.event()), now);
                agg.add(c.event(), series, now);
                counted.get(r.topic()).inc();
            }
        } else if (d instanceof DecodedEvent.Request q) {
            SeriesKey series = agg.admit(q.event());
            if (series == null) {
                deadLetter(r, seriesLimit(agg));
            } else {
                listener.onRequest(q.event(), removed.isEmpty() ? series : IstioLabels.of(q.event()), now);
                agg.add(q.event(), series, now);
                counted.get(r.topic()).inc();
            }
        } else if (d instanceof DecodedEvent.Rejected rej) {
            deadLetter(r, rej);
        }
    }

    private static DecodedEvent.Rejected seriesLimit(PartitionAggregate agg) {
        return new DecodedEvent.Rejected(SERIES_LIMIT, "a new series would grow this partition's checkpoint ("
                + agg.seriesCount() + " series, " + agg.checkpointBytes() + " bytes) past "
                + PartitionAggregate.MAX_CHECKPOINT_BYTES + " bytes (expected: fewer distinct label values, or more"
                + " partitions)");
    }

    private void deadLetter(ConsumerRecord<byte[], byte[]> r, DecodedEvent.Rejected rej) {
        ensureTransaction();
        RecordHeaders h = new RecordHeaders();
        h.add(HEADER_REASON, utf8(rej.reason()));
        h.add(HEADER_DETAIL, utf8(rej.detail()));
        h.add(HEADER_TOPIC, utf8(r.topic()));
        h.add(HEADER_PARTITION, utf8(Integer.toString(r.partition())));
        h.add(HEADER_OFFSET, utf8(Long.toString(r.offset())));
        producer.send(new ProducerRecord<>(config.deadLetterTopic(), null, r.key(), r.value(), h));
        metrics.records.labelValues(r.topic(), "dead_lettered").inc();
        metrics.rejected.labelValues(r.topic(), rej.reason()).inc();
        log.atWarn().addKeyValue("topic", r.topic()).addKeyValue("partition", r.partition())
                .addKeyValue("offset", r.offset()).addKeyValue("reason", rej.reason())
                .log("record dead-lettered: {}", rej.detail());
    }

    private void expire(long now) {
        for (Map.Entry<TopicPartition, PartitionAggregate> e : owned.entrySet()) {
            if (inBacklog(e.getKey())) {
                continue;
            }
            Expired removed = e.getValue().expire(now - ttlMillis, now - openTtlMillis);
            if (removed.series() > 0) {
                metrics.expired.inc(removed.series());
                dirty.add(e.getKey());
            }
            if (removed.withOpenConnections() > 0) {
                metrics.expiredOpen.inc(removed.withOpenConnections());
                log.atWarn().addKeyValue("partition", e.getKey().toString())
                        .addKeyValue("series", removed.withOpenConnections())
                        .log("series with connections still open expired: their close was not seen within"
                                + " openSeriesTtl (a reporter crashed, or its event was lost)");
            }
        }
    }

    /** Whether {@code tp} has not been read up to where its backlog ended when it was loaded. */
    private boolean inBacklog(TopicPartition tp) {
        Long end = backlogEnd.get(tp);
        if (end == null) {
            return false;
        }
        // the position, not the aggregate's next offset: it also passes transaction markers at the end
        if (consumer.position(tp, KAFKA_TIMEOUT) < end) {
            return true;
        }
        backlogEnd.remove(tp);
        return false;
    }

    /** One transaction: changed checkpoints + offsets (+ the dead letters already sent in it). */
    private void commit(long now) {
        if (producer == null || (dirty.isEmpty() && !inTransaction)) {
            return;
        }
        try {
            ensureTransaction();
            Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
            for (TopicPartition tp : dirty) {
                PartitionAggregate agg = owned.get(tp);
                if (agg != null && agg.nextOffset() >= 0) {
                    producer.send(checkpoints.record(tp, agg));
                    offsets.put(tp, new OffsetAndMetadata(agg.nextOffset()));
                }
            }
            if (!offsets.isEmpty()) {
                producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
            }
            producer.commitTransaction();
            inTransaction = false;
            dirty.clear();
            metrics.commits.labelValues("committed").inc();
            listener.committed(now);
            publish();
        } catch (KafkaException e) {
            fail("commit failed", e);
        }
    }

    private void ensureTransaction() {
        if (!inTransaction) {
            producer.beginTransaction();
            inTransaction = true;
        }
    }

    /**
     * Whatever went wrong, the transaction in flight is given up: the producer is closed (its successor's
     * {@code initTransactions} resolves the pending transaction) and every partition is rewound to its last
     * committed checkpoint.
     */
    private void fail(String what, KafkaException e) {
        log.atWarn().addKeyValue("error", e.toString()).log("{}: rewinding to the last committed checkpoints", what);
        if (inTransaction) {
            metrics.commits.labelValues("aborted").inc();
        }
        closeProducer();
        listener.aborted();
        dirty.clear();
        needsRewind = true;
    }

    /** Reloads every assigned partition from its committed checkpoint; false (retry later) if Kafka says no. */
    private boolean rewind() {
        try {
            owned.clear();
            dirty.clear();
            backlogEnd.clear();
            held.keySet().retainAll(consumer.assignment());
            load(consumer.assignment());
            Set<TopicPartition> resume = new HashSet<>(consumer.paused());
            resume.removeAll(held.keySet());
            consumer.resume(resume);
            needsRewind = false;
            return true;
        } catch (WakeupException e) {
            throw e;
        } catch (KafkaException e) {
            log.atWarn().addKeyValue("error", e.toString()).log("cannot reload checkpoints yet");
            return false;
        }
    }

    /**
     * Takes ownership of {@code parts}: their latest committed checkpoint, and a seek to its offset. A partition
     * whose checkpoint cannot be read is held (paused, not counted) instead: counting it from its committed
     * offset would restart its totals, and a newer replica may be able to read it.
     */
    private void load(Collection<TopicPartition> parts) {
        if (!parts.isEmpty()) {
            // read_committed: waits until a previous owner's pending offset commit is resolved (KIP-447)
            Map<TopicPartition, OffsetAndMetadata> committed = consumer.committed(new HashSet<>(parts), KAFKA_TIMEOUT);
            CheckpointStore.Loaded loaded = checkpoints.load(parts, KAFKA_TIMEOUT);
            Map<TopicPartition, Long> ends = consumer.endOffsets(parts, KAFKA_TIMEOUT); // read_committed: stable
            for (TopicPartition tp : parts) {
                String unreadable = loaded.unreadable().get(tp);
                if (unreadable != null) {
                    hold(tp, unreadable);
                    continue;
                }
                if (held.remove(tp) != null) {
                    log.atInfo().addKeyValue("partition", tp.toString()).log("checkpoint readable again: counting");
                    consumer.resume(List.of(tp));
                }
                PartitionAggregate agg = loaded.aggregates().get(tp);
                OffsetAndMetadata c = committed.get(tp);
                if (agg != null) {
                    if (c != null && c.offset() != agg.nextOffset()) {
                        log.atWarn().addKeyValue("partition", tp.toString()).addKeyValue("checkpoint", agg.nextOffset())
                                .addKeyValue("committed", c.offset()).log("checkpoint and offset disagree; trusting the checkpoint");
                    }
                    consumer.seek(tp, agg.nextOffset());
                } else if (c != null) {
                    log.atWarn().addKeyValue("partition", tp.toString()).addKeyValue("committed", c.offset())
                            .log("committed offset without checkpoint (checkpoint topic lost?): counting from it");
                    agg = new PartitionAggregate(c.offset(), removed);
                    consumer.seek(tp, c.offset());
                } else {
                    agg = new PartitionAggregate(-1, removed);
                    consumer.seekToBeginning(List.of(tp));
                }
                owned.put(tp, agg);
                backlogEnd.put(tp, ends.getOrDefault(tp, 0L));
            }
        }
        assignment = Set.copyOf(consumer.assignment());
        metrics.held.set(held.size());
        publish();
    }

    /** Looks at held partitions' checkpoints again: an operator may have deleted one. */
    private void retryHeld() {
        try {
            load(List.copyOf(held.keySet()));
        } catch (WakeupException e) {
            throw e;
        } catch (KafkaException e) { // nothing changed: the partitions stay held until the next try
            log.atWarn().addKeyValue("error", e.toString()).log("cannot read held partitions' checkpoints yet");
        }
    }

    private void hold(TopicPartition tp, String why) {
        owned.remove(tp);
        dirty.remove(tp);
        backlogEnd.remove(tp);
        consumer.pause(List.of(tp));
        if (!why.equals(held.put(tp, why))) {
            metrics.unreadableCheckpoints.inc();
            log.atError().addKeyValue("partition", tp.toString()).log("{}: partition held, not counted, until its"
                    + " checkpoint can be read (a replica of the version that wrote it, or the key deleted to count"
                    + " from the committed offset with totals restarted)", why);
        }
    }

    private void publish() {
        List<MeshTotals.Owned> parts = new ArrayList<>(owned.size());
        owned.forEach((tp, agg) -> parts.add(new MeshTotals.Owned(tp.partition(), agg)));
        published.set(MeshTotals.owned(parts));
        metrics.partitions.set(owned.size());
    }

    private final class Rebalance implements ConsumerRebalanceListener {
        @Override
        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            if (parts.isEmpty()) {
                return;
            }
            commit(clock.millis()); // hand the partitions over with everything counted so far
            drop(parts);
        }

        @Override
        public void onPartitionsLost(Collection<TopicPartition> parts) {
            fail("partitions lost", new KafkaException("partitions lost: " + parts));
            drop(parts);
        }

        @Override
        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            if (needsRewind) {
                consumer.pause(parts); // the rewind reloads the whole assignment and resumes it
                return;
            }
            try {
                load(parts);
            } catch (KafkaException e) {
                if (e instanceof WakeupException w) {
                    throw w;
                }
                log.atWarn().addKeyValue("error", e.toString()).log("cannot load checkpoints of {}", parts);
                parts.forEach(owned::remove);
                consumer.pause(parts); // nothing may be counted from them until the rewind loads them
                needsRewind = true;
            }
        }

        private void drop(Collection<TopicPartition> parts) {
            parts.forEach(tp -> {
                owned.remove(tp);
                dirty.remove(tp);
                held.remove(tp);
                backlogEnd.remove(tp);
            });
            metrics.held.set(held.size());
            assignment = Set.copyOf(consumer.assignment().stream().filter(tp -> !parts.contains(tp)).toList());
            publish();
            log.atInfo().addKeyValue("partitions", parts.toString()).log("partitions handed over");
        }
    }

    private boolean createProducer() {
        KafkaProducer<byte[], byte[]> p = newProducer();
        try {
            p.initTransactions();
        } catch (KafkaException e) {
            p.close(Duration.ZERO);
            throw e;
        }
        producer = p;
        inTransaction = false;
        return true;
    }

    private boolean createProducerOnce() {
        try {
            createProducer();
            needsRewind = true;
            return true;
        } catch (KafkaException e) {
            log.atWarn().addKeyValue("error", e.toString()).log("transactional producer not available yet");
            return false;
        }
    }

    private void closeProducer() {
        KafkaProducer<byte[], byte[]> p = producer;
        producer = null;
        inTransaction = false;
        if (p != null) {
            try {
                p.close(Duration.ZERO);
            } catch (RuntimeException e) {
                log.atDebug().log("producer close: {}", e.toString());
            }
        }
    }

    private void shutdown() {
        if (consumer != null) {
            try {
                if (!needsRewind) {
                    commit(clock.millis());
                }
                consumer.close(Duration.ofSeconds(10)); // its revocation callback commits once more
            } catch (RuntimeException e) {
                log.atWarn().log("consumer close: {}", e.toString());
            }
        }
        closeProducer();
        if (checkpoints != null) {
            checkpoints.close();
        }
        ready.complete(null);
        log.info("ingest stopped");
    }

    /** Creates the missing topics; counts what is wrong with existing ones (logged by the setup). */
    private boolean ensureTopics() {
        for (TopicReplication.Warning w : TopicSetup.ensure(config, KAFKA_TIMEOUT)) {
            metrics.topicWarnings.labelValues(w.reason()).inc();
        }
        return true;
    }

    private interface Step {
        boolean run();
    }

    private boolean retry(String what, Step step) {
        while (running) {
            try {
                if (step.run()) {
                    return true;
                }
            } catch (KafkaException | IllegalStateException e) {
                log.atWarn().addKeyValue("error", e.toString()).log("{}: retrying", what);
            }
            pause();
        }
        return false;
    }

    private void pause() {
        try {
            Thread.sleep(RETRY_BACKOFF_MILLIS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            running = false;
        }
    }

    private KafkaConsumer<byte[], byte[]> newConsumer() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, config.groupId());
        p.put(ConsumerConfig.CLIENT_ID_CONFIG, transactionalId);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5000);
        p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
        p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 1000);
        p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        return new KafkaConsumer<>(p);
    }

    private KafkaProducer<byte[], byte[]> newProducer() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, config.bootstrapServers());
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.CLIENT_ID_CONFIG, transactionalId);
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, true);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.LINGER_MS_CONFIG, 5);
        p.put(ProducerConfig.MAX_REQUEST_SIZE_CONFIG, TopicSetup.MAX_RECORD_BYTES);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 5000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 5000);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 10_000);
        // a replica that dies mid-transaction blocks readers of its checkpoints until this expires
        p.put(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 15_000);
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        return new KafkaProducer<>(p);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
