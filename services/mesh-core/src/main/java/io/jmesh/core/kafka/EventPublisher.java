package io.jmesh.core.kafka;

import io.jmesh.core.handoff.Doorbell;
import io.jmesh.core.kafka.wire.WireProducer;
import io.netty.util.internal.PlatformDependent;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.util.Queue;
import java.util.function.BiFunction;
import java.util.function.BooleanSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Publishes events to Kafka without ever blocking the caller.
 *
 * <p>{@link #publish} only offers the event to a bounded lock-free queue and returns at once; one dedicated
 * thread hands queued events to the Kafka producer (an {@link EventSink}: Kafka's Java client, whose {@code send}
 * may block on metadata or buffer space, or ztunnel's {@link WireProducer}, which that thread drives).
 * When Kafka is slow or down the queue fills and further events are dropped, counted in
 * {@code mesh_events_dropped_total{topic,reason}}. The data path is never slowed by telemetry.
 *
 * <p>A caller that keeps a refused event to offer it again later uses {@link #offer}, which counts nothing, and
 * {@link #countRefused} once it gives the event up: the dropped counter then counts only events lost for good. Such
 * events are the ones whose loss nothing later makes good (ztunnel's CLOSED), so once such a caller says it keeps
 * events back ({@link #whenRoom}) the queue's last eighth is theirs: {@link #publish} is then refused once the queue
 * holds seven eighths of its capacity, {@link #offer} only when it is full. When Kafka falls behind for good,
 * droppable events (ztunnel's OPENED and PROGRESS, which a CLOSED makes good) then give way first. A publisher no
 * caller keeps events for (ca's audit events) gives {@link #publish} the whole queue.
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

    /**
     * How many events the sender hands over between two asks for kept events while the queue never runs empty (a
     * steady overload: publishes hold it at seven eighths, and kept events would otherwise wait for their caller's
     * own timer).
     */
    static final int SENDS_BETWEEN_REFILLS = 64;

    /** An event, what to run should Kafka refuse it (null: nothing), and what counts how it ended. */
    private final class Event implements EventSink.Completion {
        final String topic;
        final byte[] key;
        final byte[] value;
        final Runnable onSendFailed;

        Event(String topic, byte[] key, byte[] value, Runnable onSendFailed) {
            this.topic = topic;
            this.key = key;
            this.value = value;
            this.onSendFailed = onSendFailed;
        }

        @Override
        public void done(Exception failure) {
            if (failure == null) {
                published.labelValues(topic).inc();
            } else {
                sendFailed(this, "event not delivered: {}", failure);
            }
        }
    }

    private final Queue<Event> queue;
    /**
     * How many queued events {@link #publish} leaves room beyond: the whole queue until a caller keeps events back
     * ({@link #whenRoom}), then seven eighths of it, the rest for {@link #offer}s (see the class comment).
     */
    private volatile int publishLimit;
    private final int capacity;
    private final EventSink sink;
    private final Thread sender;
    private final Counter published;
    private final Counter dropped;
    private volatile boolean running = true;
    private volatile long closeDeadline;
    /** What the sender asks for events its publishers kept back once the queue is empty again (null: nothing). */
    private volatile BooleanSupplier refill;
    private final Doorbell doorbell;

    private EventPublisher(KafkaSettings settings, String clientId, PrometheusRegistry metrics, EventSink sink,
            Duration idlePark, Duration busyNap) {
        this.doorbell = new Doorbell(busyNap, idlePark);
        this.queue = PlatformDependent.newFixedMpscQueue(settings.queueCapacity());
        this.capacity = settings.queueCapacity();
        this.publishLimit = capacity;
        this.sink = sink;
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
        if (sink != null) {
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

    /**
     * A publisher for {@code settings} through Kafka's Java client; when Kafka is disabled every event is dropped as
     * {@code disabled}.
     */
    public static EventPublisher create(KafkaSettings settings, String clientId, PrometheusRegistry metrics) {
        return create(settings, clientId, metrics, KafkaClientSink::create);
    }

    /**
     * As {@link #create(KafkaSettings, String, PrometheusRegistry)}, through {@link WireProducer}: what ztunnel
     * uses, which loads none of Kafka's client.
     */
    public static EventPublisher createWithWireProducer(KafkaSettings settings, String clientId,
            PrometheusRegistry metrics) {
        return create(settings, clientId, metrics, WireProducer::new);
    }

    private static EventPublisher create(KafkaSettings settings, String clientId, PrometheusRegistry metrics,
            BiFunction<KafkaSettings, String, EventSink> sinks) {
        EventSink sink = settings.enabled() ? sinks.apply(settings, clientId) : null;
        if (sink == null) {
            log.atInfo().addKeyValue("client", clientId).log("kafka disabled: events will be dropped and counted");
        }
        return new EventPublisher(settings, clientId, metrics, sink, IDLE_PARK, BUSY_NAP);
    }

    /**
     * A publisher over a given sink (tests: Kafka's {@code MockProducer} in a {@link KafkaClientSink}, or a sink
     * that refuses on cue); {@code idlePark} bounds the idle sender's sleep, so a long one proves that
     * {@link #publish} wakes it, and {@code busyNap} is the sender's nap after a round that found work.
     */
    public static EventPublisher withSink(KafkaSettings settings, String clientId, PrometheusRegistry metrics,
            EventSink sink, Duration idlePark, Duration busyNap) {
        return new EventPublisher(settings, clientId, metrics, sink, idlePark, busyNap);
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
     * @return false when the event was dropped (queue full, up to the places kept for {@link #offer}, or Kafka
     *     disabled): {@code onSendFailed} never runs then
     */
    public boolean publish(String topic, byte[] key, byte[] value, Runnable onSendFailed) {
        // size() reads two counters; publishers racing past the limit at once take a few of the kept places
        if (queue.size() < publishLimit && offer(topic, key, value, onSendFailed)) {
            return true;
        }
        countRefused(topic);
        return false;
    }

    /**
     * {@link #publish(String, byte[], byte[], Runnable)} for a caller that keeps what is refused to offer it again:
     * a refusal is not counted; {@link #countRefused} counts it once the caller gives the event up. It may take the
     * queue's last places, which {@link #publish} leaves free.
     *
     * @return false when the queue had no room or the publisher is disabled or closed
     */
    public boolean offer(String topic, byte[] key, byte[] value, Runnable onSendFailed) {
        if (sink == null || !running || !queue.offer(new Event(topic, key, value, onSendFailed))) {
            return false;
        }
        doorbell.ring();
        return true;
    }

    /**
     * Sets what the sender runs when it has emptied the queue and the producer can take more, and, while the queue
     * never runs empty, after every {@value #SENDS_BETWEEN_REFILLS} events it hands over if the queue has room: a
     * caller that keeps refused events ({@link #offer}) offers them again there, as soon as there is room, instead of
     * waiting for a timer of its own. It runs on the sender thread, so it must be short and never block; it returns
     * whether it offered anything (the sender then sends before it rests). One per publisher: a later call replaces
     * it. From now on {@link #publish} leaves the queue's last eighth to {@link #offer}s.
     */
    public void whenRoom(BooleanSupplier refill) {
        this.refill = refill;
        this.publishLimit = capacity - capacity / 8;
    }

    /** Counts one event of {@code topic} this publisher refused and its caller gave up, by why it was refused now. */
    public void countRefused(String topic) {
        dropped.labelValues(topic, sink == null || !running ? "disabled" : "queue_full").inc();
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
        int sendsSinceRefill = 0;
        while (running || !queue.isEmpty()) {
            // a sink holding all it may leaves events queued (the queue then fills and drops); closing takes all
            Event e = running && !sink.canTake() ? null : queue.poll();
            if (e == null) {
                long due = sink.sendDue();
                if (!running) {
                    continue;
                }
                if (queue.isEmpty() && sink.canTake() && refilled()) {
                    continue; // what was kept back is queued now: send it before resting
                }
                // after a send, a nap no publisher rings through: one wake-up then serves many events; idle, a
                // publish rings, and a sink holding events due later bounds the sleep
                doorbell.rest(sentSinceRest, due < 0 ? Long.MAX_VALUE : Math.max(1_000_000, due), queue::isEmpty,
                        () -> running);
                sentSinceRest = false;
                continue;
            }
            sentSinceRest = true;
            try {
                sink.send(e.topic, e.key, e.value, e);
            } catch (RuntimeException err) {
                sendFailed(e, "event not sent: {}", err);
            }
            if (++sendsSinceRefill >= SENDS_BETWEEN_REFILLS) {
                sendsSinceRefill = 0;
                if (running && queue.size() < capacity) {
                    refilled(); // into the places publishes leave free; sent in turn behind what is queued
                }
            }
        }
        sink.close(Duration.ofNanos(Math.max(0, closeDeadline - System.nanoTime())));
    }

    /** Runs {@link #refill}, if any; whether it queued anything. */
    private boolean refilled() {
        BooleanSupplier r = refill;
        if (r == null) {
            return false;
        }
        try {
            return r.getAsBoolean();
        } catch (RuntimeException bug) {
            log.atWarn().setCause(bug).log("refill of kept events threw");
            return false;
        }
    }

    /** The callback first: once the count shows the failure, its caller has heard of it too. */
    private void sendFailed(Event e, String message, Exception err) {
        if (e.onSendFailed != null) {
            try {
                e.onSendFailed.run();
            } catch (RuntimeException bug) {
                log.atWarn().addKeyValue("topic", e.topic).setCause(bug).log("send failure callback threw");
            }
        }
        dropped.labelValues(e.topic, "send_failed").inc();
        log.atDebug().addKeyValue("topic", e.topic).log(message, err.getMessage());
    }

    /**
     * Stops accepting and returns within about {@code timeout}: the sender hands queued events to the producer and
     * the producer sends what it holds until then; whatever is left at the deadline fails at once (counted
     * {@code send_failed}, callbacks run) before this returns, so that callers can count their loss.
     */
    public void close(Duration timeout) {
        closeDeadline = System.nanoTime() + timeout.toNanos();
        running = false;
        if (sink == null) {
            return;
        }
        doorbell.wakeNow();
        try {
            sender.join(Math.max(1, timeout.toMillis()));
            if (sender.isAlive()) {
                sink.abort();
                doorbell.wakeNow();
                sender.join(1000);
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            sink.abort();
        }
    }

    @Override
    public void close() {
        close(Duration.ofSeconds(2));
    }
}
