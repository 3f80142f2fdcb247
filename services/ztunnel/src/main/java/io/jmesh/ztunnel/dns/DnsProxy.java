package io.jmesh.ztunnel.dns;

import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.FixedRecvByteBufAllocator;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.Histogram;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's DNS proxy (15053, UDP and TCP, on the node address; transparent capture sends the ambient pods' port-53
 * traffic here). Only workloads of this node are served; an A or AAAA question for a name of the mesh (see {@link
 * NameResolution}) is answered from the current workload snapshot, authoritatively, with a 30 s TTL; every other
 * query is forwarded to the upstream resolvers as it is ({@link Upstream}). Istio's {@code istio_dns_*} metrics;
 * malformed queries and unknown clients are answered (FORMERR, SERVFAIL) or dropped, counted in {@code
 * ztunnel_dns_rejections_total} and logged once each, and never disturb other queries.
 */
public final class DnsProxy {

    private static final Logger log = LoggerFactory.getLogger(DnsProxy.class);
    private static final int TTL_SECONDS = 30;
    /**
     * SO_RCVBUF of the UDP sockets (asked; the kernel caps it at net.core.rmem_max). The default (~208 KiB, some
     * 200 queries) overflows when the loop stalls for ~40 ms at 5,000 queries/s (ztunnel-dns measured it), and a
     * query lost there costs its client a retry of seconds.
     */
    static final int UDP_RECEIVE_BUFFER = 4 * 1024 * 1024;
    /**
     * Room for one datagram read: the largest UDP payload, so an EDNS message is never cut (Netty's default for UDP
     * reads only 2,048 bytes and drops the rest silently). A message kept past its read is copied to its size.
     */
    static final int MAX_DATAGRAM = 0xFFFF;
    /** Queries of one TCP connection waiting for upstream before its reads pause. */
    private static final int TCP_IN_FLIGHT = 16;

    /**
     * @param bindAddress the node address; {@code port} 0 picks a free port (tests)
     * @param clusterDomain Kubernetes' cluster domain ({@code cluster.local})
     * @param tcpIdleTimeout a TCP client connection without traffic for this long is closed
     * @param upstreamConcurrency servers a forwarded query asks at once ({@code dns.upstreamConcurrency})
     * @param maxTcpConnections client TCP connections open at once; more are closed as they come
     * @param maxTcpConnectionsPerClient of those, at most this many from one client address
     */
    public record Settings(String nodeName, InetAddress bindAddress, int port, String clusterDomain,
            Duration tcpIdleTimeout, List<InetSocketAddress> upstreams, Duration upstreamTimeout,
            int upstreamAttempts, int upstreamConcurrency, int maxPendingUpstream, int maxTcpConnections,
            int maxTcpConnectionsPerClient) {}

    private final NetTransport net;
    private final WorkloadStore store;
    private final Settings settings;
    private final NameResolution names;
    private final Upstream upstream;
    private final EventLoop udpLoop;
    private final Counter requests;
    private final Counter forwarded;
    private final Counter forwardFailures;
    private final Histogram forwardSeconds;
    private final Counter rejections;
    private final io.jmesh.ztunnel.telemetry.RefusalLogLimit rejectionLog;
    private final Clients clients;
    /** Client TCP connections open now (the accepted ones run on several event loops). */
    private final AtomicInteger tcpConnections = new AtomicInteger();
    /** Whether refusing connections has been logged since they were last at most half the limit. */
    private final AtomicBoolean refusalLogged = new AtomicBoolean();
    /** Client TCP connections open now by client address; an address leaves the map with its last connection. */
    private final java.util.concurrent.ConcurrentHashMap<InetAddress, Integer> tcpByClient =
            new java.util.concurrent.ConcurrentHashMap<>();
    /** When a client over its own limit was last logged (nanoTime; at most one such line every 10 s). */
    private final java.util.concurrent.atomic.AtomicLong clientRefusalLoggedAt =
            new java.util.concurrent.atomic.AtomicLong(System.nanoTime() - CLIENT_REFUSAL_LOG_NANOS);
    private static final long CLIENT_REFUSAL_LOG_NANOS = TimeUnit.SECONDS.toNanos(10);
    private Channel udp;
    private Channel tcp;

    public DnsProxy(NetTransport net, WorkloadStore store, Settings settings, PrometheusRegistry metrics) {
        this(net, store, settings, new DnsMetrics(metrics), null);
    }

    /** Names the workload a query comes from. */
    @FunctionalInterface
    public interface Clients {
        /** The workload of {@code client}, or null. */
        Workload of(InetAddress client);

        /**
         * Called when {@link #of} found nothing: the workload once discovery names it, or null (the query is then
         * answered SERVFAIL). Nothing is waited for by default.
         */
        default Future<Workload> later(InetAddress client) {
            return Future.succeededFuture();
        }
    }

    /**
     * A proxy sharing its metrics with others; {@code clients} names the workload a query comes from (null: the
     * workload of this node with the client's address). In-pod mode: every query to a pod's proxy is that pod's.
     */
    public DnsProxy(NetTransport net, WorkloadStore store, Settings settings, DnsMetrics metrics, Clients clients) {
        this.net = net;
        this.store = store;
        this.settings = settings;
        this.names = new NameResolution(settings.clusterDomain());
        this.udpLoop = net.nextLoop();
        this.upstream = new Upstream(net, new Upstream.Settings(settings.upstreams(), settings.upstreamTimeout(),
                settings.upstreamAttempts(), settings.upstreamConcurrency(), settings.maxPendingUpstream()), udpLoop, metrics.upstreamRetries);
        this.clients = clients != null ? clients : ip -> {
            Workload w = store.current().workloadByIp(ip);
            return w != null && settings.nodeName().equals(w.getNode()) ? w : null;
        };
        requests = metrics.requests;
        forwarded = metrics.forwarded;
        forwardFailures = metrics.forwardFailures;
        forwardSeconds = metrics.forwardSeconds;
        rejections = metrics.rejections;
        rejectionLog = metrics.rejectionLog;
    }

    /** {@code dns.upstreams} entries as addresses; a bad entry is named in the exception. */
    public static List<InetSocketAddress> upstreams(List<String> entries) {
        List<InetSocketAddress> out = new ArrayList<>();
        for (int i = 0; i < entries.size(); i++) {
            out.add(ResolvConf.parse("dns.upstreams[" + i + "]", entries.get(i)));
        }
        return out;
    }

    /** Binds UDP and TCP on the same port (with port 0: TCP's free port, then UDP on it). */
    public Future<Void> start() {
        Promise<Void> started = Promise.promise();
        ChannelFuture tcpBind = net.server()
                .childOption(ChannelOption.AUTO_READ, true)
                .childHandler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        if (!admitted(ch)) {
                            return;
                        }
                        long idle = settings.tcpIdleTimeout().toMillis();
                        // after the decoder, the idle timer sees whole messages only: a client dribbling bytes
                        // of one message (slowloris) is as quiet as one sending nothing
                        Frames frames = new Frames();
                        ch.pipeline().addLast(frames, new IdleStateHandler(idle, 0, 0, TimeUnit.MILLISECONDS),
                                new TcpQueries(frames));
                    }
                })
                .bind(settings.bindAddress(), settings.port());
        tcpBind.addListener(t -> {
            if (!t.isSuccess()) {
                started.fail(bindFailure("TCP", t.cause()));
                return;
            }
            tcp = tcpBind.channel();
            int port = ((InetSocketAddress) tcp.localAddress()).getPort();
            ChannelFuture udpBind = net.datagramServer(udpLoop, settings.bindAddress())
                    .option(ChannelOption.SO_RCVBUF, UDP_RECEIVE_BUFFER)
                    .option(ChannelOption.RCVBUF_ALLOCATOR, new FixedRecvByteBufAllocator(MAX_DATAGRAM))
                    .handler(new UdpQueries()).bind(settings.bindAddress(), port);
            udpBind.addListener(u -> {
                if (!u.isSuccess()) {
                    tcp.close();
                    started.fail(bindFailure("UDP", u.cause()));
                    return;
                }
                udp = udpBind.channel();
                upstream.start().addListener(s -> {
                    if (s.isSuccess()) {
                        log.atInfo().addKeyValue("address", address()).addKeyValue("upstreams", settings.upstreams())
                                .log("dns proxy listening (UDP and TCP)");
                        started.complete();
                    } else {
                        started.fail(s.cause());
                    }
                });
            });
        });
        return started.future();
    }

    /**
     * Counts a new client connection, or closes it when {@code dns.maxTcpConnections} are open already: each idle
     * connection holds a file descriptor and buffers for up to tcpIdleTimeout, and nothing else bounds how many one
     * client may open. Every refusal is counted; one log line per spell of refusals.
     */
    private boolean admitted(Channel ch) {
        if (!admittedFromClient(ch)) {
            return false;
        }
        int max = settings.maxTcpConnections();
        if (tcpConnections.incrementAndGet() > max) {
            tcpConnections.decrementAndGet();
            rejections.labelValues("tcp", "connection_limit").inc();
            if (refusalLogged.compareAndSet(false, true)) {
                log.atWarn().addKeyValue("src", ch.remoteAddress()).addKeyValue("protocol", "tcp")
                        .addKeyValue("reason", "connection_limit")
                        .log("dns connection refused: dns.maxTcpConnections ({}) are open; more are closed as they "
                                + "come, counted in ztunnel_dns_rejections_total (logged again once half have closed)",
                                max);
            }
            ch.close(); // its per-client count goes with the close
            return false;
        }
        ch.closeFuture().addListener(f -> {
            if (tcpConnections.decrementAndGet() <= max / 2) {
                refusalLogged.set(false);
            }
        });
        return true;
    }

    /**
     * Counts a new connection against its client address, or closes it when that client holds
     * {@code dns.maxTcpConnectionsPerClient} already: on a node's listener every pod of the node is a client, and one
     * that opens connections without end would otherwise take all of {@code dns.maxTcpConnections} from the others.
     */
    private boolean admittedFromClient(Channel ch) {
        InetAddress client = ((InetSocketAddress) ch.remoteAddress()).getAddress();
        int max = settings.maxTcpConnectionsPerClient();
        boolean[] admitted = new boolean[1];
        tcpByClient.compute(client, (a, n) -> {
            int open = n == null ? 0 : n;
            if (open >= max) {
                return n;
            }
            admitted[0] = true;
            return open + 1;
        });
        if (!admitted[0]) {
            rejections.labelValues("tcp", "client_connection_limit").inc();
            long last = clientRefusalLoggedAt.get();
            long now = System.nanoTime();
            if (now - last >= CLIENT_REFUSAL_LOG_NANOS && clientRefusalLoggedAt.compareAndSet(last, now)) {
                log.atWarn().addKeyValue("src", client.getHostAddress()).addKeyValue("protocol", "tcp")
                        .addKeyValue("reason", "client_connection_limit")
                        .log("dns connection refused: this client holds dns.maxTcpConnectionsPerClient ({}) already; "
                                + "more are closed as they come, counted in ztunnel_dns_rejections_total (at most one "
                                + "such line every 10 s)", max);
            }
            ch.close();
            return false;
        }
        ch.closeFuture().addListener(f -> tcpByClient.computeIfPresent(client, (a, n) -> n <= 1 ? null : n - 1));
        return true;
    }

    private IllegalStateException bindFailure(String protocol, Throwable cause) {
        return new IllegalStateException("listeners.dns: cannot bind " + protocol + " " + settings.bindAddress()
                .getHostAddress() + ":" + settings.port() + ": " + cause.getMessage(), cause);
    }

    /** Where the proxy listens (UDP and TCP). */
    public InetSocketAddress address() {
        return (InetSocketAddress) tcp.localAddress();
    }

    /** Closes both sockets and the forwarder; completes once the sockets are closed. */
    public Future<Void> close() {
        upstream.close();
        return Future.all(closed(udp), closed(tcp)).mapEmpty();
    }

    private static Future<Void> closed(Channel ch) {
        if (ch == null) {
            return Future.succeededFuture();
        }
        Promise<Void> done = Promise.promise();
        ch.close().addListener(f -> done.complete());
        return done.future();
    }

    /**
     * Answers or forwards one query; {@code msg} stays the caller's. Returns false for a message dropped without
     * an answer: {@code reply} is then never called. Otherwise it is called once, now or later.
     */
    private boolean handle(ByteBuf msg, InetSocketAddress from, boolean overTcp, Consumer<ByteBuf> reply) {
        String protocol = overTcp ? "tcp" : "udp";
        DnsMessage.Query q;
        try {
            q = DnsMessage.parse(msg);
        } catch (DnsMessage.Malformed e) {
            reject(protocol, e.reason(), from, e.getMessage());
            if (!e.answerable()) {
                return false;
            }
            reply.accept(DnsMessage.error(msg.alloc(), msg, null, DnsMessage.id(msg), DnsMessage.FORMERR));
            return true;
        }
        Workload client = clients.of(from.getAddress());
        if (client == null) {
            Future<Workload> later = clients.later(from.getAddress());
            if (!later.isComplete()) {
                // the caller frees msg when this returns: the query waits as a copy, then goes on off discovery's thread
                ByteBuf kept = msg.copy();
                later.onComplete(ar -> {
                    try {
                        udpLoop.execute(() -> {
                            try {
                                answer(kept, q, from, overTcp, reply, ar.result());
                            } finally {
                                kept.release();
                            }
                        });
                    } catch (java.util.concurrent.RejectedExecutionException e) {
                        kept.release(); // ztunnel is shutting down: no thread is left to answer on
                    }
                });
                return true;
            }
            client = later.result();
        }
        return answer(msg, q, from, overTcp, reply, client);
    }

    /** The rest of {@link #handle} once the client is known ({@code client} null: none, SERVFAIL); replies. */
    private boolean answer(ByteBuf msg, DnsMessage.Query q, InetSocketAddress from, boolean overTcp,
            Consumer<ByteBuf> reply, Workload client) {
        String protocol = overTcp ? "tcp" : "udp";
        if (client == null) {
            requests.labelValues(DnsMessage.typeLabel(q.type()), protocol, "unknown", "unknown").inc();
            reject(protocol, "unknown_source", from, "not a workload of this node");
            reply.accept(DnsMessage.error(msg.alloc(), msg, q, q.id(), DnsMessage.SERVFAIL));
            return true;
        }
        String[] labels = {DnsMessage.typeLabel(q.type()), protocol, orUnknown(client.getCanonicalName()),
            orUnknown(client.getCanonicalRevision())};
        requests.labelValues(labels).inc();
        if (q.opcode() != 0) {
            reject(protocol, "opcode", from, "opcode " + q.opcode() + " (expected: 0, QUERY)");
            reply.accept(DnsMessage.error(msg.alloc(), msg, q, q.id(), DnsMessage.NOTIMP));
            return true;
        }
        if (q.ednsVersion() > 0) { // as a resolver of EDNS 0 must, for local and forwarded names alike
            reject(protocol, "edns_version", from, "EDNS version " + q.ednsVersion() + " (expected: 0)");
            reply.accept(DnsMessage.badVersion(msg.alloc(), msg, q));
            return true;
        }
        boolean address = q.type() == DnsMessage.TYPE_A || q.type() == DnsMessage.TYPE_AAAA;
        if (address && q.qclass() == DnsMessage.CLASS_IN && q.name() != null) {
            NameResolution.Answer a = names.resolve(store.current(), client, q.name(),
                    q.type() == DnsMessage.TYPE_AAAA);
            if (a != null) {
                log.atDebug().addKeyValue("src", from).addKeyValue("name", q.name())
                        .addKeyValue("records", a.addresses().size()).log("dns answered");
                reply.accept(DnsMessage.answer(msg.alloc(), msg, q, a.canonical(), a.addresses(), TTL_SECONDS,
                        !overTcp));
                return true;
            }
        }
        forwarded.labelValues(labels).inc();
        forwardFailures.labelValues(labels); // its zero shows next to the forwarded count
        long start = System.nanoTime();
        // header and question, kept for a SERVFAIL: the forwarder owns (and releases) the query itself; both are
        // copies, so the read buffer (64 KiB for UDP, a TCP connection's cumulation) is not held while upstream thinks
        ByteBuf head = msg.copy(msg.readerIndex(), q.questionEnd());
        upstream.forward(msg.copy(), q.questionEnd(), overTcp).addListener(f -> {
            forwardSeconds.labelValues(labels).observe((System.nanoTime() - start) / 1e9);
            try {
                if (f.isSuccess()) {
                    ByteBuf answer = (ByteBuf) f.getNow();
                    if (DnsMessage.failedLookup(answer)) {
                        forwardFailures.labelValues(labels).inc(); // as Istio's: relayed, but no records
                    }
                    reply.accept(answer);
                } else {
                    forwardFailures.labelValues(labels).inc();
                    log.atDebug().addKeyValue("src", from).addKeyValue("name", q.name())
                            .log("dns forward failed: {}", f.cause().getMessage());
                    reply.accept(DnsMessage.error(head.alloc(), head, q, q.id(), DnsMessage.SERVFAIL));
                }
            } finally {
                head.release();
            }
        });
        return true;
    }

    /** Counts a refused message always; logs it within {@code telemetry.rejectionLog} (a flood is a few lines). */
    private void reject(String protocol, String reason, InetSocketAddress from, String why) {
        rejections.labelValues(protocol, reason).inc();
        if (rejectionLog.admit(protocol + " " + reason, DnsProxy::logSuppressed)) {
            log.atWarn().addKeyValue("src", from).addKeyValue("protocol", protocol).addKeyValue("reason", reason)
                    .log("dns query refused: {}", why);
        }
    }

    /** Logs the summary lines of refusals whose interval is over (a timer every {@code rejectionLog.interval}). */
    public static void reportSuppressed(DnsMetrics metrics) {
        metrics.rejectionLog.reportSuppressed(DnsProxy::logSuppressed);
    }

    private static void logSuppressed(String protocolAndReason, long lines, java.time.Duration interval) {
        int space = protocolAndReason.indexOf(' ');
        log.atWarn().addKeyValue("protocol", protocolAndReason.substring(0, space))
                .addKeyValue("reason", protocolAndReason.substring(space + 1)).addKeyValue("suppressed", lines)
                .log("dns query refused: suppressed {} similar lines in an interval of {} (telemetry.rejectionLog); "
                        + "ztunnel_dns_rejections_total counts them all", lines,
                        io.jmesh.core.config.Durations.format(interval));
    }

    private static String orUnknown(String s) {
        return s == null || s.isEmpty() ? "unknown" : s;
    }

    private final class UdpQueries extends SimpleChannelInboundHandler<DatagramPacket> {
        @Override
        protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket p) {
            InetSocketAddress sender = p.sender();
            Channel ch = ctx.channel();
            handle(p.content(), sender, false, answer -> ch.writeAndFlush(new DatagramPacket(answer, sender)));
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // a send to a vanished client (ICMP unreachable) and the like: the socket serves everyone, keep it
            log.atDebug().log("dns udp error: {}", cause.toString());
        }
    }

    /** TCP's two-byte length prefix; knows whether part of a message is waiting for the rest. */
    private static final class Frames extends LengthFieldBasedFrameDecoder {
        Frames() {
            super(0xFFFF + 2, 0, 2, 0, 2);
        }

        boolean partial() {
            return actualReadableBytes() > 0;
        }
    }

    /**
     * One TCP client's queries. Pausing reads cannot bound them alone: one read may hold many messages (a client
     * pipelining hundreds in one write), and the decoder passes them all on at once. Those beyond the limit wait
     * here, already read, and are taken up as answers free their places; reads stay paused while any wait.
     */
    private final class TcpQueries extends ChannelInboundHandlerAdapter {
        private final Frames frames;
        private final ArrayDeque<ByteBuf> waiting = new ArrayDeque<>();
        private int inFlight;
        /** The client shut its side (FIN): it sends no more, and the connection closes after its last answer. */
        private boolean inputClosed;

        TcpQueries(Frames frames) {
            this.frames = frames;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            waiting.add((ByteBuf) msg);
            drain(ctx.channel());
        }

        /** Sends {@code answer} (owned by the callee) on the connection's own thread, if it is still open. */
        private void reply(Channel ch, ByteBuf answer) {
            try {
                ch.eventLoop().execute(() -> {
                    if (ch.isActive()) {
                        ch.write(ch.alloc().buffer(2).writeShort(answer.readableBytes()));
                        ch.writeAndFlush(answer);
                    } else {
                        answer.release();
                    }
                    settled(ch); // after the write: a close that follows comes after this answer
                });
            } catch (java.util.concurrent.RejectedExecutionException e) {
                answer.release(); // ztunnel is shutting down: the connection's thread is gone, and so is the client
            }
        }

        /** Handles waiting messages while fewer than the limit await answers and the client takes its answers. */
        private void drain(Channel ch) {
            while (inFlight < TCP_IN_FLIGHT && ch.isWritable() && !waiting.isEmpty()) {
                ByteBuf frame = waiting.poll();
                ++inFlight;
                boolean answered;
                try {
                    answered = handle(frame, (InetSocketAddress) ch.remoteAddress(), true,
                            answer -> reply(ch, answer));
                } finally {
                    frame.release();
                }
                if (!answered) {
                    --inFlight; // a dropped message holds no slot: 16 of them used to pause reads for good
                }
            }
            reads(ch);
        }

        /** One message of this connection answered: the next waiting one, or reads, go on. */
        private void settled(Channel ch) {
            --inFlight;
            drain(ch);
            closeIfDone(ch);
        }

        /**
         * Once the client has shut its side and every message is answered, the connection closes after the answers
         * written so far (half-closure is allowed on ztunnel's sockets, so its FIN alone closes nothing, and the
         * connection would otherwise wait for the idle timeout).
         */
        private void closeIfDone(Channel ch) {
            if (inputClosed && inFlight == 0 && waiting.isEmpty() && ch.isOpen()) {
                ch.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            }
        }

        /**
         * Reads go on while no message waits, fewer than the limit of queries await answers and the answers written
         * so far are being taken (the channel is writable): a client that does not read its answers stops being
         * read, rather than piling them up here.
         */
        private void reads(Channel ch) {
            ch.config().setAutoRead(waiting.isEmpty() && inFlight < TCP_IN_FLIGHT && ch.isWritable());
        }

        @Override
        public void handlerRemoved(ChannelHandlerContext ctx) {
            // the connection closed (or the pipeline is torn down) with messages still waiting: theirs to free
            ByteBuf frame;
            while ((frame = waiting.poll()) != null) {
                frame.release();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            drain(ctx.channel());
            ctx.fireChannelWritabilityChanged();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                inputClosed = true; // any whole messages before the FIN were passed on already by the decoder
                closeIfDone(ctx.channel());
                ctx.fireUserEventTriggered(evt);
            } else if (evt instanceof IdleStateEvent) {
                // no whole message for tcpIdleTimeout, and none awaiting upstream (any still waiting here wait for
                // a client that has not taken its answers for that long); counted when part of one came
                if (inFlight == 0) {
                    if (frames.partial()) {
                        reject("tcp", "timeout", (InetSocketAddress) ctx.channel().remoteAddress(),
                                "a message unfinished for " + settings.tcpIdleTimeout().toMillis() + " ms");
                    }
                    ctx.close();
                }
            } else {
                ctx.fireUserEventTriggered(evt);
            }
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            // an oversized length prefix (TooLongFrameException) or a reset: this client only
            reject("tcp", cause instanceof TooLongFrameException ? "too_long" : "io",
                    (InetSocketAddress) ctx.channel().remoteAddress(), cause.getMessage());
            ctx.close();
        }
    }
}
