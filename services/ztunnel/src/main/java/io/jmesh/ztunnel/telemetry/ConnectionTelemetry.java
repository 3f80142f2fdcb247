package io.jmesh.ztunnel.telemetry;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.kafka.EventPublisher;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.telemetry.v1.ConnectionEvent;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.prometheus.metrics.core.datapoints.CounterDataPoint;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Gauge;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.time.Instant;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.LongSupplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's L4 telemetry for every proxied connection: the four {@code istio_tcp_*} counters with Istio's label
 * set, one JSON access-log line when a connection closes (logger {@code access}; at DEBUG also one when it opens),
 * and {@link ConnectionEvent}s to Kafka ({@code mesh.l4-events.v1}) through the bounded, non-blocking
 * {@link EventPublisher}.
 *
 * <p>The byte counters move as bytes are relayed, as Istio's ztunnel counts them: a connection resolves its two
 * series when it opens ({@link Tracked#bytesFromSource()}, {@link Tracked#bytesToSource()}) and the relay adds to
 * them per read, so a long-lived connection's traffic shows while it is open. Those series carry the labels of the
 * connection as opened ({@code response_flags="-"}), as Istio's do; the access log and the CLOSED event report the
 * totals at close.
 *
 * <p>Events carry the bytes as they flow too: {@link #reportProgress()} (every {@code telemetry.progressInterval})
 * publishes a PROGRESS for each relayed connection that moved bytes since its last one, with the bytes since then,
 * read from the counters its relay keeps ({@link Tracked#relayedBy}); its CLOSED then says how much of its totals
 * the PROGRESS events carried ({@code reported_bytes_*}). Each report claims its bytes with one compare-and-set on
 * the connection's {@link Reported}, which the close swaps for {@link Reported#CLOSED}: a report and a close that
 * race never both carry the same bytes. Nothing is added per relayed read, and no timer per connection: a
 * connection costs one entry in {@link #open} (a {@link ConcurrentHashMap}, as {@link TcpSeries} already uses
 * per connection), and the one periodic walk reads the relay's volatile counters and builds events only for
 * connections that moved bytes.
 *
 * <p>At shutdown, {@link #endOpen()} ends every connection still open, relayed or still being set up (its dial, its
 * tunnel's CONNECT, its application connect: a {@link SetUp} registered it before the attempt), and
 * {@link #awaitOpenEnded} waits for their closes, so that each writes its access-log line and its CLOSED (error
 * {@link #CLOSED_FROM_DRAIN}, as Istio's ztunnel records the connections it drops) before the event publisher closes.
 *
 * <p>Refusals before a connection is established are counted in {@code ztunnel_connection_rejections_total} by
 * {@code reason} and logged once each (logger {@code access}, "connection failed").
 */
public final class ConnectionTelemetry {

    public static final String TOPIC = "mesh.l4-events.v1";
    /** The error of a connection ztunnel ended at shutdown, as Istio's ztunnel words it (its {@code ClosedFromDrain}). */
    public static final String CLOSED_FROM_DRAIN = "connection closed due to connection drain";

    private static final Logger log = LoggerFactory.getLogger(ConnectionTelemetry.class);

    /**
     * How long the series of a connection outlive its close when no other connection uses them, unless
     * {@code telemetry.seriesIdleWindow} says otherwise (the telemetry service's {@code seriesTtl} default): time for
     * a scrape to see the last increments.
     */
    public static final java.time.Duration SERIES_IDLE_WINDOW = java.time.Duration.ofHours(1);
    /** The defaults of {@code telemetry.rejectionLog}: lines per direction and reason, and per how long. */
    public static final int REJECTION_LINES = 20;
    public static final java.time.Duration REJECTION_LOG_INTERVAL = java.time.Duration.ofSeconds(10);

    /** The {@code istio_tcp_*} labels exported: Istio's less {@code telemetry.removeLabels}. */
    private final IstioTcpLabels labels;
    private final TcpSeries tcp;
    private final Counter rejections;
    private final RefusalLogLimit rejectionLog;
    private final java.time.Duration seriesIdleWindow;
    private final Counter onDemandDns;
    private final Gauge socketsOpen;
    private final EventPublisher events;
    /** Builds the events; null without Kafka, when none is built (the publisher would only count the drop). */
    private final ConnectionEvents eventBuilder;
    private final AtomicLong ids = new AtomicLong();
    /** CLOSED events the publisher had no room for, offered again when it has room. */
    private final KeptCloses kept;
    /** Which workloads discovery took away, whose series go ({@link #expire}). */
    private final RemovedWorkloads removedWorkloads = new RemovedWorkloads();
    /**
     * Connections shutdown can end ({@link #endOpen()}), each from its {@link SetUp} (or, for one tracked without,
     * from its relay's start: {@link Tracked#relayedBy}) until its close has handed its CLOSED over: what
     * {@link #reportProgress()} walks (the relayed ones), and what {@link #awaitOpenEnded} waits for. Keyed by their
     * sequence, so each add and remove touches its own bin: one put and one remove per connection.
     */
    private final ConcurrentHashMap<Long, SetUp> open = new ConcurrentHashMap<>();

    /**
     * The bytes of a connection its PROGRESS events carried, each direction as {@link Tracked#close} and
     * {@link ConnectionEvent} count them; {@link #CLOSED} once it closed (no report after that). Immutable: a
     * report replaces it with one compare-and-set, so two readers never claim the same bytes.
     */
    private record Reported(long fromSource, long toSource) {
        static final Reported NONE = new Reported(0, 0);
        static final Reported CLOSED = new Reported(-1, -1);
    }

    public ConnectionTelemetry(PrometheusRegistry metrics, EventPublisher events, boolean eventsEnabled,
            String node) {
        this(metrics, events, eventsEnabled, node, SERIES_IDLE_WINDOW, System::nanoTime);
    }

    public ConnectionTelemetry(PrometheusRegistry metrics, EventPublisher events, boolean eventsEnabled,
            String node, java.time.Duration seriesIdleWindow, java.util.function.LongSupplier nanoClock) {
        this(metrics, events, eventsEnabled, node, seriesIdleWindow,
                new RefusalLogLimit(REJECTION_LINES, REJECTION_LOG_INTERVAL, nanoClock), nanoClock);
    }

    public ConnectionTelemetry(PrometheusRegistry metrics, EventPublisher events, boolean eventsEnabled,
            String node, java.time.Duration seriesIdleWindow, RefusalLogLimit rejectionLog,
            java.util.function.LongSupplier nanoClock) {
        this(metrics, events, eventsEnabled, node, seriesIdleWindow, rejectionLog, java.util.List.of(), nanoClock);
    }

    /**
     * @param seriesIdleWindow how long the {@code istio_tcp_*} series of connections, all closed, stay
     * @param rejectionLog how many "connection failed" lines of refused connections are logged per direction and
     *     reason ({@link #rejected}); the metric counts every one
     * @param removeLabels {@code istio_tcp_*} labels not exported ({@code telemetry.removeLabels}; checked by
     *     {@link IstioTcpLabels#checkRemovable})
     * @param nanoClock {@link System#nanoTime()}, or a test's clock
     */
    public ConnectionTelemetry(PrometheusRegistry metrics, EventPublisher events, boolean eventsEnabled,
            String node, java.time.Duration seriesIdleWindow, RefusalLogLimit rejectionLog,
            java.util.Collection<String> removeLabels, java.util.function.LongSupplier nanoClock) {
        this.rejectionLog = rejectionLog;
        this.seriesIdleWindow = seriesIdleWindow;
        this.events = events;
        if (events != null) {
            events.declare(TOPIC);
        }
        this.eventBuilder = eventsEnabled ? new ConnectionEvents(node) : null;
        labels = IstioTcpLabels.without(removeLabels);
        tcp = new TcpSeries(labels.names(), labels.responseFlags(), seriesIdleWindow, nanoClock);
        metrics.register(tcp);
        rejections = Counter.builder().name("ztunnel_connection_rejections_total")
                .help("Connections refused before they were established, by direction and reason")
                .labelNames("direction", "reason").register(metrics);
        onDemandDns = Counter.builder().name("istio_on_demand_dns_total")
                .help("Connections to an endpoint known by hostname only, whose name ztunnel resolved (on-demand DNS)")
                .labelNames(IstioTcpLabels.ON_DEMAND_DNS_NAMES).register(metrics);
        kept = KeptCloses.of(events, TOPIC, metrics);
        socketsOpen = Gauge.builder().name("istio_tcp_sockets_open").help("Proxied connections open now")
                .labelNames("reporter").register(metrics);
    }

    /**
     * A connection ztunnel took and is still setting up (routing done, its dial, its tunnel's CONNECT waiting for the
     * 200, or its application connect under way), registered in {@link #open} before the attempt
     * ({@link #settingUp}), so that shutdown can end it ({@link #endOpen()}) and wait for its CLOSED. The connection
     * it becomes ({@link #opened(ConnectionInfo, long, SetUp)}, the attempt's success or failure) keeps its sequence
     * and its place in {@link #open} until its close has handed its CLOSED over. How shutdown ends it changes as it
     * goes ({@link #endWith}): the set-up's end (close the client and the attempt under way; the attempt's failure
     * then closes the connection as {@link #CLOSED_FROM_DRAIN}), then the relay's ({@link Tracked#relayedBy}). One
     * whose set-up ends without a connection to report (its client gave up first) leaves with {@link #abandon()}.
     */
    public final class SetUp {
        private final long sequence;
        /** In {@link #open} from its creation ({@link #settingUp}); else put there when its relay starts. */
        private final boolean registered;
        /** How shutdown ends it now; null for no way yet. */
        private volatile Runnable end;
        /** Ended by shutdown ({@link #endOpen()}): its connection closes as {@link #CLOSED_FROM_DRAIN}. */
        private volatile boolean ended;
        /** The connection it became, once opened: what the progress walk reads. */
        private volatile Tracked tracked;

        private SetUp(Runnable end, boolean registered) {
            this.sequence = ids.incrementAndGet();
            this.end = end;
            this.registered = registered;
        }

        /**
         * From now on shutdown ends the connection with {@code end}. If shutdown ended it already (before this, or
         * racing it), {@code end} runs now too. Either way {@code end} may run on any thread and more than once:
         * close channels with {@link io.netty.channel.Channel#close()}, which runs on the channel's own loop.
         */
        public void endWith(Runnable end) {
            this.end = end; // then read ended, while endOpen writes ended then reads end: one of the two runs it
            if (ended) {
                end.run();
            }
        }

        /**
         * Whether shutdown ended it: its attempt's failure is then ztunnel's doing, no refusal to count in
         * {@code ztunnel_connection_rejections_total} or log as "connection failed".
         */
        public boolean endedAtShutdown() {
            return ended;
        }

        /** Its set-up ended without a connection to report (the client went away first): shutdown forgets it. */
        public void abandon() {
            open.remove(sequence);
        }

        /** Shutdown: ends it, once (twice at worst, when two threads end all at once: an end bears that). */
        private boolean end() {
            if (ended) {
                return false;
            }
            ended = true;
            Runnable e = end;
            if (e != null) {
                try {
                    e.run();
                } catch (RuntimeException failed) { // one connection's end must not keep shutdown from the others
                    log.atWarn().setCause(failed).log("ending a connection at shutdown: {}", failed.toString());
                }
            }
            return true;
        }
    }

    /**
     * Registers a connection being set up (see {@link SetUp}) before its attempt starts; {@code end} ends it from any
     * thread (closing the client suffices where that cancels the attempt). Pass it to
     * {@link #opened(ConnectionInfo, long, SetUp)} once the attempt succeeded or failed, or {@link SetUp#abandon()}.
     */
    public SetUp settingUp(Runnable end) {
        SetUp u = new SetUp(end, true);
        open.put(u.sequence, u);
        return u;
    }

    /** A connection being tracked; {@link #close} once. */
    public final class Tracked {
        private final ConnectionInfo info;
        /** The series' labels, built once: only the response flags can still change at close. */
        private final String[] labels;
        /** Its registration for shutdown, whose sequence is the connection's. */
        private final SetUp setUp;
        private final long sequence;
        /** When ztunnel took the connection ({@link System#nanoTime()}): the duration runs from here. */
        private final long startNanos;
        /** Wall-clock {@link #startNanos}, for events only. */
        private final Instant start;
        /** The series the relay adds to as bytes pass, resolved once (Istio's ConnectionResult does the same). */
        private final CounterDataPoint fromSource;
        private final CounterDataPoint toSource;
        /** What PROGRESS events of this connection carried so far; {@link Reported#CLOSED} once closed. */
        private final AtomicReference<Reported> reported = new AtomicReference<>(Reported.NONE);
        /**
         * This connection's OPENED never reached Kafka: the publisher dropped it (its queue was full), or took it and
         * Kafka refused it ({@code send_failed}, set from the producer's thread). Its CLOSED says so
         * ({@code opened_dropped}), so that telemetry counts the connection opened at its close and does not take
         * the close for the end of another open connection of its series. A CLOSED built before Kafka's refusal was
         * known (a connection shorter than the delivery timeout) does not carry it: as before the flag existed, its
         * open is missed and its close ends another open connection's count.
         */
        private volatile boolean openedDropped;
        /** The relay's running byte counts ({@link #relayedBy}); set once, before the progress walk reads them. */
        private volatile LongSupplier relayedFromSource;
        private volatile LongSupplier relayedToSource;

        private Tracked(ConnectionInfo info, String[] labels, long startNanos, SetUp setUp) {
            this.info = info;
            this.labels = labels;
            this.setUp = setUp;
            this.sequence = setUp.sequence;
            this.startNanos = startNanos;
            this.start = eventBuilder != null ? Instant.now().minusNanos(System.nanoTime() - startNanos) : null;
            this.fromSource = tcp.received.labelValues(labels);
            this.toSource = tcp.sent.labelValues(labels);
        }

        /** {@code istio_tcp_received_bytes_total} of this connection: add the bytes the source sends, as they pass. */
        public CounterDataPoint bytesFromSource() {
            return fromSource;
        }

        /** {@code istio_tcp_sent_bytes_total} of this connection: add the bytes the destination sends back. */
        public CounterDataPoint bytesToSource() {
            return toSource;
        }

        /** {@link #relayedBy(LongSupplier, LongSupplier, Runnable)} of a relay shutdown cannot end (tests). */
        public void relayedBy(LongSupplier fromSource, LongSupplier toSource) {
            relayedBy(fromSource, toSource, null);
        }

        /**
         * The connection's relay started: its running byte counts, which {@link #reportProgress()} reads (the
         * relay keeps them anyway), and how to end it at shutdown. Call once, right after the relay started; a
         * connection without a relay (one closed at once with a flag) moves no bytes and is never reported in
         * between.
         *
         * @param fromSource bytes the source has sent so far (the relay's count of that direction)
         * @param toSource bytes the destination has sent back so far
         * @param end closes both sides of the relay, from any thread (its close then comes as for any other end);
         *     replaces its set-up's end ({@link SetUp#endWith}), and runs at once if shutdown ended the set-up
         */
        public void relayedBy(LongSupplier fromSource, LongSupplier toSource, Runnable end) {
            relayedFromSource = fromSource;
            relayedToSource = toSource;
            if (end != null) {
                setUp.endWith(end);
            }
            if (!setUp.registered) { // tracked without a set-up: shutdown learns of it now
                open.put(sequence, setUp);
                if (reported.get() == Reported.CLOSED) {
                    open.remove(sequence); // closed while being added: its close may have missed the entry
                }
            }
        }

        /**
         * Publishes a PROGRESS with the bytes since the last one, if any moved and the connection is open. The
         * bytes are claimed (compare-and-set) before the event goes; if the publisher drops it they are given back,
         * so the next report or the close carries them, unless the connection closed in between (then they are in
         * its {@code reported_bytes_*} and lost with the dropped event).
         *
         * @return whether an event was handed to the publisher
         */
        private boolean reportProgress() {
            Reported last = reported.get();
            LongSupplier from = relayedFromSource;
            LongSupplier to = relayedToSource;
            if (last == Reported.CLOSED || from == null || eventBuilder == null) {
                return false;
            }
            long fromNow = from.getAsLong();
            long toNow = to.getAsLong();
            if (fromNow <= last.fromSource() && toNow <= last.toSource()) {
                return false; // nothing moved since the last report
            }
            Reported now = new Reported(Math.max(fromNow, last.fromSource()), Math.max(toNow, last.toSource()));
            if (!reported.compareAndSet(last, now)) {
                return false; // closed meanwhile (the close carries these bytes), or a failed report gave bytes back
            }
            long ms = (System.nanoTime() - startNanos) / 1_000_000;
            long fromDelta = now.fromSource() - last.fromSource();
            long toDelta = now.toSource() - last.toSource();
            EncodedEvent progress = event(ConnectionEvent.Kind.PROGRESS, fromDelta, toDelta, last, ms, "-", null);
            if (events.publish(TOPIC, progress.key(), progress.value(), () -> giveBack(fromDelta, toDelta))) {
                return true;
            }
            reported.compareAndSet(now, last);
            return false;
        }

        /**
         * A PROGRESS Kafka refused after the publisher took it: its bytes are no longer reported, so the next
         * report or the close carries them. Too late once the connection closed: its CLOSED already counted them as
         * reported, and they are lost to telemetry's byte counters.
         */
        private void giveBack(long fromDelta, long toDelta) {
            reported.updateAndGet(r -> r == Reported.CLOSED ? r
                    : new Reported(r.fromSource() - fromDelta, r.toSource() - toDelta));
        }

        /** Bytes from the source that PROGRESS events the publisher took carried (tests). */
        long reportedFromSource() {
            return reported.get().fromSource();
        }

        /**
         * Counts the close and writes the access-log line and the event. The byte totals are for those two only:
         * the byte counters were added to as the bytes passed ({@link #bytesFromSource()}).
         *
         * @param fromSource bytes the source sent towards the destination
         * @param toSource bytes the destination sent back
         * @param error null for a clean close
         */
        public void close(long fromSource, long toSource, String responseFlags, String error) {
            if (setUp.ended) {
                // whatever the relay made of its sides' closes: ztunnel ended it, as Istio's records a dropped one
                responseFlags = "-";
                error = CLOSED_FROM_DRAIN;
            }
            String flags = responseFlags == null || responseFlags.isEmpty() ? "-" : responseFlags;
            tcp.close(labels, flags, error != null);
            socketsOpen.labelValues(IstioTcpLabels.reporter(info)).dec();
            long ms = (System.nanoTime() - startNanos) / 1_000_000;
            if (AccessLog.closeEnabled(error != null)) {
                AccessLog.closed(info, fromSource, toSource, ms, flags, error);
            }
            // no report after this one takes bytes; what the reports took is part of these totals
            Reported progress = reported.getAndSet(Reported.CLOSED);
            if (progress == Reported.CLOSED) {
                progress = Reported.NONE; // a second close (never expected): no progress to report
            }
            // the reports read the same counters as these totals, so never more; kept so should it ever differ, as
            // the telemetry service refuses a CLOSED reporting more than its totals
            progress = new Reported(Math.min(progress.fromSource(), fromSource), Math.min(progress.toSource(),
                    toSource));
            EncodedEvent closed = event(ConnectionEvent.Kind.CLOSED, fromSource, toSource, progress, ms, flags,
                    error);
            if (closed != null) {
                kept.publish(closed);
            }
            open.remove(sequence); // only now: shutdown waits for this CLOSED to be handed over
        }

        /**
         * @param fromSource bytes of this event (totals on CLOSED, since the last PROGRESS on PROGRESS)
         * @param progress what earlier PROGRESS events carried
         * @return the event, null without Kafka (not even built)
         */
        private EncodedEvent event(ConnectionEvent.Kind kind, long fromSource, long toSource, Reported progress,
                long ms, String flags, String error) {
            return eventBuilder == null ? null : eventBuilder.encode(kind, info, sequence, start, ms, fromSource,
                    toSource, progress.fromSource(), progress.toSource(), flags, error, openedDropped);
        }
    }

    /**
     * One PROGRESS for each relayed connection that moved bytes since its last one (see the class comment); call
     * every {@code telemetry.progressInterval}, off the event loops (it walks every open connection), from one thread
     * at a time. First offers the kept CLOSED events again ({@link KeptCloses#offerKept()}).
     * Never blocks: events go to the bounded publisher, whose drops are counted there (a refused CLOSED only once
     * it is given up).
     *
     * @return how many PROGRESS events the publisher took
     */
    public int reportProgress() {
        kept.offerKept();
        int published = 0;
        for (SetUp u : open.values()) {
            Tracked t = u.tracked; // null while being set up; a connection without a relay reports nothing
            if (t != null && t.reportProgress()) {
                published++;
            }
        }
        return published;
    }

    /**
     * Shutdown, once the connections closed and before the publisher closes: offers the kept CLOSED events once
     * more, waiting for room in the publisher (its sender drains it) until {@code within} is over; those that do
     * not go are lost, counted. From now on a CLOSED the publisher refuses is lost at once. Blocks (up to
     * {@code within}): call off the event loops.
     *
     * @return how many kept CLOSED events the publisher took
     */
    public int stop(java.time.Duration within) {
        return kept.stop(within);
    }

    /**
     * Shutdown, first: ends every connection still open, relayed (both sides of its relay close, on their loops) or
     * being set up (its client and its attempt close: the attempt fails); each then closes as
     * {@link #CLOSED_FROM_DRAIN}. Never blocks; call again to end those registered since.
     *
     * @return how many it ended now
     */
    public int endOpen() {
        int ended = 0;
        for (SetUp u : open.values()) {
            if (u.end()) {
                ended++;
            }
        }
        return ended;
    }

    /**
     * Shutdown, after {@link #endOpen()} and before {@link #stop}: waits until every connection's close has written
     * its access-log line and handed its CLOSED over (an ended set-up's attempt fails, and closes so), or
     * {@code within} is over; ends those registered meanwhile too. Blocks (up to {@code within}): call off the event
     * loops.
     *
     * @return how many connections are still open
     */
    public int awaitOpenEnded(java.time.Duration within) {
        long deadline = System.nanoTime() + within.toNanos();
        while (!open.isEmpty() && System.nanoTime() - deadline < 0) {
            endOpen();
            java.util.concurrent.locks.LockSupport.parkNanos(1_000_000); // their loops run the closes
        }
        return open.size();
    }

    /** Connections {@link #reportProgress()} reports: relayed and not closed (tests). */
    public int relayedConnections() {
        int relayed = 0;
        for (SetUp u : open.values()) {
            Tracked t = u.tracked;
            if (t != null && t.relayedFromSource != null) {
                relayed++;
            }
        }
        return relayed;
    }

    /** Connections shutdown would end: being set up, or relayed, and not closed (tests). */
    public int openConnections() {
        return open.size();
    }

    /** Counts and publishes an established connection taken now ({@link #opened(ConnectionInfo, long)}). */
    public Tracked opened(ConnectionInfo info) {
        return opened(info, System.nanoTime());
    }

    /**
     * Counts and publishes a connection, established or whose attempt just failed (closed at once with its flag).
     *
     * @param startNanos when ztunnel took the connection ({@link System#nanoTime()}), before it dialled: as in
     *     Istio's ztunnel, whose {@code ConnectionResult} starts then, its duration includes the dial, failed or not
     */
    public Tracked opened(ConnectionInfo info, long startNanos) {
        return opened(info, startNanos, null);
    }

    /**
     * As {@link #opened(ConnectionInfo, long)}, for the connection {@code setUp} registered: it keeps its sequence,
     * and its registration for shutdown; closed at once with a flag when its attempt failed (as
     * {@link #CLOSED_FROM_DRAIN} if shutdown ended it).
     *
     * @param setUp null for a connection without one (it is registered when its relay starts)
     */
    public Tracked opened(ConnectionInfo info, long startNanos, SetUp setUp) {
        String[] labels = this.labels.of(info, "-");
        tcp.open(labels);
        socketsOpen.labelValues(IstioTcpLabels.reporter(info)).inc();
        SetUp u = setUp == null ? new SetUp(null, false) : setUp;
        Tracked t = new Tracked(info, labels, startNanos, u);
        u.tracked = t;
        if (AccessLog.openEnabled()) {
            AccessLog.opened(info);
        }
        EncodedEvent opened = t.event(ConnectionEvent.Kind.OPENED, 0, 0, Reported.NONE, 0, "-", null);
        // the publisher's refusal is known at once, Kafka's later on the producer's thread (which may even come
        // before publish returns: so only ever set to true)
        if (opened != null && !events.publish(TOPIC, opened.key(), opened.value(), () -> t.openedDropped = true)) {
            t.openedDropped = true;
        }
        return t;
    }

    /**
     * A connection whose endpoint is known by hostname only, about to resolve {@code hostname} (Istio counts every
     * such lookup, cached or not).
     */
    public void onDemandDns(Workload source, SpiffeId sourcePrincipal, String hostname) {
        onDemandDns.labelValues(IstioTcpLabels.onDemandDns(source, sourcePrincipal, hostname)).inc();
    }

    /**
     * Drops the series of workloads that no longer exist (Istio issue #1719: stale per-pod series are never
     * evicted otherwise). A series stays while any workload with its name and namespace remains; an on-demand DNS
     * series also needs a workload that still has its hostname. An {@code istio_tcp_*} series that an open
     * connection still uses stays until idle for the window ({@link TcpSeries}).
     *
     * <p>Runs for every discovery push, on discovery's event loop, so it costs what the push changed: it follows the
     * workloads from the last index it saw to {@code next} ({@link WorkloadIndex#forEachWorkloadChange}, which
     * skips what the two share), keeps how many workloads hold each name and hostname, and only when one of those
     * counts drops to zero looks through the series for it. A series of a workload this store never held (a peer
     * of another network, named by its baggage) is no push's to drop: it goes once idle for the window.
     */
    public synchronized void expire(WorkloadIndex next) {
        RemovedWorkloads.Gone gone = removedWorkloads.follow(next);
        if (gone.isEmpty()) {
            return;
        }
        onDemandDns.removeIf(l -> gone.names().contains(IstioTcpLabels.dnsSourceName(l))
                || gone.hostnames().contains(IstioTcpLabels.dnsHostname(l)));
        tcp.expireUnused(l -> gone.names().contains(labels.sourceName(l))
                || gone.names().contains(labels.destinationName(l)));
    }

    /**
     * A connection refused before it was established: counted always, logged within {@code telemetry.rejectionLog}
     * (a flood of bad input would otherwise be a flood of lines; the ones left out are summed in one line).
     */
    public void rejected(boolean outbound, String reason, String detail, InetSocketAddress src, String dst) {
        String direction = outbound ? "outbound" : "inbound";
        rejections.labelValues(direction, reason).inc();
        if (rejectionLog.admit(direction + " " + reason, ConnectionTelemetry::logSuppressed)) {
            AccessLog.refused(direction, reason, detail, src, dst);
        }
    }

    /** Logs the summary lines of refusals whose interval is over (a timer every {@code rejectionLog.interval}). */
    public void reportSuppressedRejections() {
        rejectionLog.reportSuppressed(ConnectionTelemetry::logSuppressed);
    }

    private static void logSuppressed(String directionAndReason, long lines, java.time.Duration interval) {
        int space = directionAndReason.indexOf(' ');
        AccessLog.refusalsSuppressed(directionAndReason.substring(0, space), directionAndReason.substring(space + 1),
                lines, interval);
    }

    /** How long series of closed connections stay once idle ({@code telemetry.seriesIdleWindow}). */
    public java.time.Duration seriesIdleWindow() {
        return seriesIdleWindow;
    }

    /** The rejection count for tests and /config_dump. */
    public double rejections(boolean outbound, String reason) {
        return rejections.labelValues(outbound ? "outbound" : "inbound", reason).get();
    }
}
