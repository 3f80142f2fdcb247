package io.jmesh.core.grpc;

import io.netty.channel.ChannelException;
import io.netty.channel.epoll.EpollSocketChannel;
import io.netty.channel.epoll.EpollSocketChannelConfig;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientAgent;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.impl.ConnectionBase;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * gRPC's HTTP/2 keepalive, as Istio runs it between ztunnel and istiod on both ends: a PING every
 * {@code interval} on each watched connection, and the connection closed when one is not answered within
 * {@code timeout}. Without it a half-open connection (the peer's node gone, a partition, a NAT that dropped its
 * state) holds a discovery stream for ever: the client waits for updates that never come, the server keeps the
 * stream's state. Closing fails the connection's streams, so their owners reconnect as after any other loss.
 *
 * <p>Vert.x's {@code http2KeepAliveTimeout} only closes an idle connection and sends no PING, which is why this
 * exists. Nothing blocks: a periodic timer per connection, cancelled when the connection closes.
 */
public final class Http2Liveness {

    private static final Logger log = LoggerFactory.getLogger(Http2Liveness.class);

    /** Istio's control-plane PING interval (ztunnel's {@code http2_keep_alive_interval}, istiod's keepalive Time). */
    public static final Duration ISTIO_INTERVAL = Duration.ofSeconds(30);
    /** Istio's wait for the PING's answer ({@code http2_keep_alive_timeout}, istiod's keepalive Timeout). */
    public static final Duration ISTIO_TIMEOUT = Duration.ofSeconds(10);
    /** Istio's ztunnel's connect timeout to istiod. */
    public static final Duration CONNECT_TIMEOUT = Duration.ofSeconds(5);
    /** Istio's ztunnel's TCP keepalive to istiod: first probe after 300 s idle, then every 75 s, 9 unanswered. */
    static final int TCP_KEEPALIVE_IDLE_SECONDS = 300;
    static final int TCP_KEEPALIVE_INTERVAL_SECONDS = 75;
    static final int TCP_KEEPALIVE_PROBES = 9;

    /**
     * The PING schedule.
     *
     * @param interval time between PINGs on a connection (a PING still unanswered is not followed by another)
     * @param timeout how long a PING may go unanswered before the connection is closed
     */
    public record Settings(Duration interval, Duration timeout) {

        public static final Settings ISTIO = new Settings(ISTIO_INTERVAL, ISTIO_TIMEOUT);

        public Settings {
            positive("keepalive interval", interval);
            positive("keepalive timeout", timeout);
        }

        /** Checks a configured pair, naming {@code intervalField} or {@code timeoutField} in the error. */
        public static Settings of(String intervalField, Duration interval, String timeoutField, Duration timeout) {
            return new Settings(positive(intervalField, interval), positive(timeoutField, timeout));
        }

        /**
         * {@code <prefix>keepaliveInterval} and {@code <prefix>keepaliveTimeout} as configured, {@code defaults}'
         * where not set, refused naming the field when not above zero.
         */
        public static Settings configured(String prefix, Duration interval, Duration timeout, Settings defaults) {
            return of(prefix + "keepaliveInterval", interval == null ? defaults.interval() : interval,
                    prefix + "keepaliveTimeout", timeout == null ? defaults.timeout() : timeout);
        }

        private static Duration positive(String field, Duration d) {
            if (d == null || d.isNegative() || d.isZero()) {
                throw new IllegalArgumentException(field + ": " + d + " (expected: > 0)");
            }
            return d;
        }
    }

    /**
     * An HTTP/2 client for gRPC to a control-plane peer as Istio's ztunnel dials istiod: {@code options} made HTTP/2
     * (ALPN over TLS, prior knowledge in plaintext: Vert.x's gRPC client does that only to options it is given, not
     * to a client built here), plus TCP keepalive with Istio's timings, a 5 s connect timeout, and every connection
     * it opens watched by {@code liveness}.
     */
    public static HttpClientAgent client(Vertx vertx, HttpClientOptions options, Http2Liveness liveness) {
        options.setProtocolVersion(HttpVersion.HTTP_2).setHttp2ClearTextUpgrade(false).setTcpKeepAlive(true)
                .setConnectTimeout((int) CONNECT_TIMEOUT.toMillis());
        if (options.isSsl()) {
            options.setUseAlpn(true);
        }
        return vertx.httpClientBuilder().with(options).withConnectHandler(connection -> {
            tcpKeepaliveTimings(connection);
            liveness.watch(connection);
        }).build();
    }

    /**
     * Gives a connected socket Istio's keepalive timings (300 s / 75 s / 9). Vert.x 5.0's options only turn
     * keepalive on, which leaves Linux's defaults: two hours before the first probe. Native epoll sockets only (NIO
     * keeps the system's timings); a socket that refuses an option keeps the system's for it.
     */
    static void tcpKeepaliveTimings(HttpConnection connection) {
        if (connection instanceof ConnectionBase base && base.channel() instanceof EpollSocketChannel socket) {
            EpollSocketChannelConfig config = socket.config();
            try {
                config.setTcpKeepIdle(TCP_KEEPALIVE_IDLE_SECONDS);
                config.setTcpKeepIntvl(TCP_KEEPALIVE_INTERVAL_SECONDS);
                config.setTcpKeepCnt(TCP_KEEPALIVE_PROBES);
            } catch (ChannelException e) { // the socket closed meanwhile: nothing to keep alive
                log.atDebug().log("TCP keepalive timings not set: {}", e.getMessage());
            }
        }
    }

    private final Vertx vertx;
    private final Settings settings;
    private final String peer;
    private final io.prometheus.metrics.core.datapoints.CounterDataPoint timeouts;
    private final AtomicInteger watched = new AtomicInteger();

    /**
     * @param peer what the watched connections lead to, for the log and the counter's {@code peer} label
     * @param timeouts the counter {@link #counter} registered
     */
    public Http2Liveness(Vertx vertx, Settings settings, String peer, Counter timeouts) {
        this.vertx = vertx;
        this.settings = settings;
        this.peer = peer;
        this.timeouts = timeouts.labelValues(peer);
    }

    /** Registers {@code <service>_grpc_keepalive_timeouts_total}, by {@code peer}. */
    public static Counter counter(PrometheusRegistry registry, String service) {
        return Counter.builder().name(service + "_grpc_keepalive_timeouts_total")
                .help("gRPC connections closed because a keepalive PING went unanswered, by peer")
                .labelNames("peer").register(registry);
    }

    /**
     * Starts PINGing {@code connection} until it closes, and logs its errors at debug, naming the exception: its
     * streams fail with it and their callers say so, and without a handler Vert.x logs it as an ERROR line holding
     * only the exception's message, for Netty's HTTP/2 errors often none ({@code <missing-log-message>}). A
     * connection whose closing cannot be observed (not one of Vert.x's own) is left alone: its timer would outlive
     * it.
     */
    public void watch(HttpConnection connection) {
        if (!(connection instanceof ConnectionBase base)) {
            log.atWarn().addKeyValue("peer", peer).log("keepalive not applied to {}: its close cannot be observed",
                    connection.getClass().getName());
            return;
        }
        connection.exceptionHandler(e -> log.atDebug().addKeyValue("peer", peer)
                .addKeyValue("remote", String.valueOf(connection.remoteAddress()))
                .log("gRPC connection error: {}", e.toString()));
        new Watch(connection).start(base.closeFuture());
    }

    /** Connections watched now: each holds a timer until it closes. */
    public int watched() {
        return watched.get();
    }

    /** One connection's PINGs: timer ids and state in atomics (timers and PING answers may run on other threads). */
    private final class Watch {
        private final HttpConnection connection;
        private final AtomicBoolean closed = new AtomicBoolean();
        private final AtomicLong deadline = new AtomicLong(-1);
        private final AtomicLong sequence = new AtomicLong();
        private long periodic;

        Watch(HttpConnection connection) {
            this.connection = connection;
        }

        void start(Future<Void> closing) {
            watched.incrementAndGet();
            periodic = vertx.setPeriodic(settings.interval().toMillis(), id -> ping());
            closing.onComplete(v -> {
                closed.set(true);
                watched.decrementAndGet();
                vertx.cancelTimer(periodic);
                long t = deadline.getAndSet(-1);
                if (t != -1) {
                    vertx.cancelTimer(t);
                }
            });
        }

        private void ping() {
            if (closed.get() || deadline.get() != -1) {
                return; // closed, or the last PING still has time to be answered
            }
            AtomicBoolean settled = new AtomicBoolean();
            long timer = vertx.setTimer(settings.timeout().toMillis(), id -> {
                if (settled.compareAndSet(false, true) && !closed.get()) {
                    timedOut();
                }
            });
            deadline.set(timer);
            connection.ping(Buffer.buffer().appendLong(sequence.incrementAndGet())).onComplete(answer -> {
                // a PING that fails did not reach the peer because the connection closed: its close handles it
                if (answer.succeeded() && settled.compareAndSet(false, true)) {
                    vertx.cancelTimer(timer);
                    deadline.compareAndSet(timer, -1);
                }
            });
        }

        private void timedOut() {
            timeouts.inc();
            log.atWarn().addKeyValue("peer", peer).addKeyValue("remote", String.valueOf(connection.remoteAddress()))
                    .log("closing gRPC connection: PING unanswered for {} (peer gone or unreachable)",
                            settings.timeout());
            vertx.cancelTimer(periodic);
            // at once, open streams and all: a graceful close would wait on a peer that answers nothing
            connection.close();
        }
    }
}
