package io.jmesh.core.kafka;

import io.jmesh.core.handoff.Doorbell;
import io.netty.util.internal.PlatformDependent;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.Properties;
import java.util.Queue;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.Producer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes events to Kafka without ever blocking the caller.
 *
 * <p>{@link #publish} only offers the event to a bounded lock-free queue and returns at once; one dedicated
 * thread hands queued events to the Kafka producer (whose {@code send} may block on metadata or buffer space).
 * When Kafka is slow or down the queue fills and further events are dropped, counted in
 * {@code mesh_events_dropped_total{topic,reason}}. The data path is never slowed by telemetry.
 *
 * <p>A caller that keeps a refused event to offer it again later uses {@link #offer}, which counts nothing, and
 * {@link #countRefused} once it gives the event up: the dropped counter then counts only events lost for good.
 *
 * <p>Thread-safe: any thread may publish.
 */
public final class EventPublisher implements AutoCloseable {

    private static final Logger log = LoggerFactory.getLogger(EventPublisher.class);
    /**
     * Longest sleep of an idle sender: {@link #publish} wakes it at once, so this only bounds a wake-up lost to a
     * race (it used to be a 2 ms poll: 500 wake-ups a second for an idle process).
     */
    private static final Duration IDLE_PARK = Duration.ofMillis(100);

    /**
     * How long a sender that just sent sleeps before it looks again, unannounced: events wait at most this long
     * (the producer lingers far longer to fill its batches), and under load one wake-up serves many events.
     */
    private static final Duration BUSY_NAP = Duration.ofMillis(5);

    /** An event and what to run should Kafka refuse it (null: nothing). */
    private record Event(String topic, byte[] key, byte[] value, Runnable onSendFailed) {}

    private final Queue<Event> queue;
    private final Producer<byte[], byte[]> producer;
    private final Thread sender;
    private final Counter published;
    private final Counter dropped;
    private volatile boolean running = true;
    private final Doorbell doorbell;

    private EventPublisher(KafkaSettings settings, String clientId, PrometheusRegistry metrics,
            Producer<byte[], byte[]> producer, Duration idlePark, Duration busyNap) {
        this.doorbell = new Doorbell(busyNap, idlePark);
        this.queue = PlatformDependent.newFixedMpscQueue(settings.queueCapacity());
        this.producer = producer;
        this.published = Counter.builder().name("mesh_events_published_total")
                .help("Events handed to Kafka and acknowledged").labelNames("topic").register(metrics);
        this.dropped = Counter.builder().name("mesh_events_dropped_total")
                .help("Events dropped: queue_full (Kafka slow or away), send_failed, or disabled")
                .labelNames("topic", "reason").register(metrics);
        GaugeWithCallback.builder().name("mesh_events_queued").help("Events waiting for the Kafka producer")
                .callback(cb -> cb.call(queue.size())).register(metrics);
        this.sender = new Thread(this::drainQueue, clientId + "-event-publisher");
        this.sender.setDaemon(true);
        doorbell.consumer(sender);
        if (producer != null) {
            sender.start();
        }
    }

    /**
     * Declares a topic this publisher will write to: its published and dropped counters exist at zero from now
     * on, so dashboards and alerts on them have a series before the first event (or the first loss).
     */
    public EventPublisher declare(String topic) {
        published.labelValues(topic);
        for (String reason : new String[] {"queue_full", "send_failed", "disabled"}) {
            dropped.labelValues(topic, reason);
        }
        return this;
    }

    /** A publisher for {@code settings}; when Kafka is disabled every event is dropped as {@code disabled}. */
    public static EventPublisher create(KafkaSettings settings, String clientId, PrometheusRegistry metrics) {
        Producer<byte[], byte[]> producer = settings.enabled() ? newProducer(settings, clientId) : null;
        if (producer == null) {
            log.atInfo().addKeyValue("client", clientId).log("kafka disabled: events will be dropped and counted");
        }
        return new EventPublisher(settings, clientId, metrics, producer, IDLE_PARK, BUSY_NAP);
    }

    /**
     * A publisher over a given producer (tests: Kafka's {@code MockProducer}); {@code idlePark} bounds the idle
     * sender's sleep, so a long one proves that {@link #publish} wakes it.
     */
    static EventPublisher withProducer(KafkaSettings settings, String clientId, PrometheusRegistry metrics,
            Producer<byte[], byte[]> producer, Duration idlePark) {
        return withProducer(settings, clientId, metrics, producer, idlePark, BUSY_NAP);
    }

    /** {@link #withProducer(KafkaSettings, String, PrometheusRegistry, Producer, Duration)} with its busy nap. */
    static EventPublisher withProducer(KafkaSettings settings, String clientId, PrometheusRegistry metrics,
            Producer<byte[], byte[]> producer, Duration idlePark, Duration busyNap) {
        return new EventPublisher(settings, clientId, metrics, producer, idlePark, busyNap);
    }

    /**
     * Queues one event; never blocks.
     *
     * @return false when the event was dropped (queue full or Kafka disabled)
     */
    public boolean publish(String topic, byte[] key, byte[] value) {
        return publish(topic, key, value, null);
    }

    /**
     * Queues one event; never blocks. {@code onSendFailed} runs, once, if the event was queued but Kafka then did
     * not take it (counted {@code send_failed}): on the producer's thread, so it must be short and never block. A
     * failed send is not always unwritten: a batch whose acknowledgement timed out may be in the topic after all.
     *
     * @return false when the event was dropped (queue full or Kafka disabled): {@code onSendFailed} never runs then
     */
    public boolean publish(String topic, byte[] key, byte[] value, Runnable onSendFailed) {
        if (offer(topic, key, value, onSendFailed)) {
            return true;
        }
        countRefused(topic);
        return false;
    }

    /**
     * {@link #publish(String, byte[], byte[], Runnable)} for a caller that keeps what is refused to offer it again:
     * a refusal is not counted; {@link #countRefused} counts it once the caller gives the event up.
     *
     * @return false when the queue had no room or the publisher is disabled or closed
     */
    public boolean offer(String topic, byte[] key, byte[] value, Runnable onSendFailed) {
        if (producer == null || !running || !queue.offer(new Event(topic, key, value, onSendFailed))) {
            return false;
        }
        doorbell.ring();
        return true;
    }

    /** Counts one event of {@code topic} this publisher refused and its caller gave up, by why it was refused now. */
    public void countRefused(String topic) {
        dropped.labelValues(topic, producer == null || !running ? "disabled" : "queue_full").inc();
    }

    /** How many times the sender woke up with nothing to send. */
    long idleWakeups() {
        return doorbell.idleWakeups();
    }

    /** How many times a publisher woke the sender. */
    long publisherWakeups() {
        return doorbell.rings();
    }

    public int queued() {
        return queue.size();
    }

    private void drainQueue() {
        boolean sentSinceRest = false;
        while (running || !queue.isEmpty()) {
            Event e = queue.poll();
            if (e == null) {
                if (!running) {
                    break;
                }
                // after a send, a nap no publisher rings through: one wake-up then serves many events
                doorbell.rest(sentSinceRest, queue::isEmpty, () -> running);
                sentSinceRest = false;
                continue;
            }
            sentSinceRest = true;
            try {
                producer.send(new ProducerRecord<>(e.topic(), e.key(), e.value()), (md, err) -> {
                    if (err == null) {
                        published.labelValues(e.topic()).inc();
                    } else {
                        sendFailed(e, "event not delivered: {}", err);
                    }
                });
            } catch (RuntimeException err) {
                sendFailed(e, "event not sent: {}", err);
            }
        }
    }

    /** The callback first: once the count shows the failure, its caller has heard of it too. */
    private void sendFailed(Event e, String message, Exception err) {
        if (e.onSendFailed() != null) {
            try {
                e.onSendFailed().run();
            } catch (RuntimeException bug) {
                log.atWarn().addKeyValue("topic", e.topic()).setCause(bug).log("send failure callback threw");
            }
        }
        dropped.labelValues(e.topic(), "send_failed").inc();
        log.atDebug().addKeyValue("topic", e.topic()).log(message, err.getMessage());
    }

    /**
     * Stops accepting and returns within about {@code timeout}: queued events get half of it to be handed to the
     * producer, the producer the rest to flush and close. Events still queued then fail at once on the closed
     * producer: the sender counts them {@code send_failed} and runs their callbacks before this returns (waited for
     * within the same time, in practice at once), so that their callers can count their loss.
     */
    public void close(Duration timeout) {
        running = false;
        if (producer == null) {
            return;
        }
        doorbell.wakeNow();
        long deadline = System.nanoTime() + timeout.toNanos();
        try {
            sender.join(Math.max(1, timeout.toMillis() / 2));
            producer.close(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
            sender.join(Math.max(1, (deadline - System.nanoTime()) / 1_000_000));
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            producer.close(Duration.ZERO);
        }
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(2));
    }

    private static Producer<byte[], byte[]> newProducer(KafkaSettings settings, String clientId) {
        // idempotent: a batch retried after a lost acknowledgement is written once, so telemetry, which counts
        // each stored event exactly once, never counts a connection twice; blocked sends only stall the sender
        // thread, and are kept short (a second) so that a dead Kafka drains the queue into drops. Batches linger
        // 50 ms (up to 64 KiB): events are counted into metrics scraped every few seconds, and at a ztunnel's
        // thousands of connections a second each produce request (and its network thread's turn) serves ten
        // times as many events as at 5 ms
        Properties p = settings.idempotentProducer(clientId);
        p.put(ProducerConfig.MAX_IN_FLIGHT_REQUESTS_PER_CONNECTION, 5);
        p.put(ProducerConfig.LINGER_MS_CONFIG, 50);
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, 64 * 1024);
        p.put(ProducerConfig.COMPRESSION_TYPE_CONFIG, "lz4");
        return new KafkaProducer<>(p);
    }
}
