package io.jmesh.ztunnel.dns;

import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.EventLoop;
import io.netty.channel.SimpleChannelInboundHandler;
import io.netty.channel.socket.DatagramPacket;
import io.netty.handler.codec.LengthFieldBasedFrameDecoder;
import io.netty.util.collection.IntObjectHashMap;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.Promise;
import io.netty.util.concurrent.ScheduledFuture;
import io.prometheus.metrics.core.metrics.Counter;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.BitSet;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Forwards the queries the proxy does not answer to the upstream resolvers, byte for byte, in the protocol the
 * client used: UDP through one socket (each query under an id of its own, restored in the answer; an answer is
 * accepted only from a server asked and with the question asked), TCP on a connection per query and server (the
 * same checks). As Istio's forwarder (hickory's name server pool, two requests at once by default) a query asks up
 * to {@code concurrency} servers at once and takes the first final answer; up to {@code attempts} tries in all, each
 * asking one server. A server that does not answer within the timeout, or whose answer is not final
 * ({@link DnsMessage#retryReason}: SERVFAIL, REFUSED, another error, or a negative answer without the zone's SOA or
 * NS), is followed by the next one while tries are left; a server whose answer was not final is not asked again for
 * that query. When nothing is left in flight and no try is left, the client gets the non-final answer of the
 * earliest-asked server that gave one, as it came (hickory keeps the first of equal errors), or, when no server
 * answered at all, a failure (the proxy's SERVFAIL). Each answer or silence passed over while the query went on is
 * counted in {@code ztunnel_dns_upstream_retries_total}. A server that let a try time out (or refused its TCP
 * connection) is held down ({@link SilentServers}): the queries meanwhile start with another. Everything runs on one
 * event loop; at most {@code maxPending} UDP queries are in flight, more fail at once.
 */
final class Upstream {

    /** The reasons of {@code ztunnel_dns_upstream_retries_total}: no answer in time, then the answers moved on from. */
    static final List<String> RETRY_REASONS = List.of("no_answer", "servfail", "refused", "nxdomain", "nodata",
            "rcode");

    /** Why a forward failed; the message is for the log. */
    static final class Failure extends Exception {
        Failure(String message) {
            super(message, null, false, false);
        }
    }

    /**
     * @param concurrency servers asked at once by one query (hickory's {@code num_concurrent_reqs}); never more than
     *     {@code attempts}
     */
    record Settings(List<InetSocketAddress> servers, Duration timeout, int attempts, int concurrency,
            int maxPending) {}

    private final NetTransport net;
    private final Settings settings;
    private final EventLoop loop;
    private final Counter retries;
    private final IntObjectHashMap<Forward> pending = new IntObjectHashMap<>();
    private final SilentServers silentServers;
    private Channel udp;
    /** Set by {@link #close}: no server is asked after it (a forward whose ask ends then fails instead). */
    private volatile boolean closed;

    /**
     * @param loop the thread of the forwarder: the UDP listener's, so a forwarded query never changes threads
     * @param retries {@code ztunnel_dns_upstream_retries_total}, labelled protocol and reason
     */
    Upstream(NetTransport net, Settings settings, EventLoop loop, Counter retries) {
        this.net = net;
        this.settings = settings;
        this.loop = loop;
        this.retries = retries;
        this.silentServers = new SilentServers(settings.servers(), settings.timeout());
    }

    /** Opens the UDP socket (on a wildcard address, an ephemeral port). */
    Future<Void> start() {
        Promise<Void> started = loop.newPromise();
        net.datagram(loop, null).option(io.netty.channel.ChannelOption.SO_RCVBUF, DnsProxy.UDP_RECEIVE_BUFFER)
                .option(io.netty.channel.ChannelOption.RCVBUF_ALLOCATOR,
                        new io.netty.channel.FixedRecvByteBufAllocator(DnsProxy.MAX_DATAGRAM))
                .handler(new SimpleChannelInboundHandler<DatagramPacket>() {
            @Override
            protected void channelRead0(ChannelHandlerContext ctx, DatagramPacket p) {
                answered(p);
            }
        }).bind(0).addListener(f -> {
            if (f.isSuccess()) {
                udp = ((io.netty.channel.ChannelFuture) f).channel();
                started.setSuccess(null);
            } else {
                started.setFailure(f.cause());
            }
        });
        return started;
    }

    void close() {
        closed = true;
        if (udp != null) {
            udp.close();
        }
        loop.execute(() -> {
            for (Forward p : new java.util.ArrayList<>(pending.values())) {
                p.abort("ztunnel is shutting down"); // removes it
            }
        });
    }

    /**
     * Forwards {@code query} (owned by the callee from here on) and completes with the answer, its id restored, or
     * fails with a {@link Failure}.
     */
    Future<ByteBuf> forward(ByteBuf query, int questionEnd, boolean tcp) {
        Promise<ByteBuf> answer = loop.newPromise();
        if (settings.servers().isEmpty()) {
            query.release();
            answer.setFailure(new Failure("no upstream DNS server (dns.upstreams empty and none in /etc/resolv.conf)"));
            return answer;
        }
        if (loop.inEventLoop()) {
            start(query, questionEnd, tcp, answer);
        } else {
            try {
                loop.execute(() -> start(query, questionEnd, tcp, answer));
            } catch (java.util.concurrent.RejectedExecutionException e) {
                query.release(); // the forwarder's thread is gone: ztunnel is shutting down
                answer.setFailure(new Failure("ztunnel is shutting down"));
            }
        }
        return answer;
    }

    private void start(ByteBuf query, int questionEnd, boolean tcp, Promise<ByteBuf> answer) {
        if (tcp) {
            new Forward(query, questionEnd, answer, -1).launch();
        } else {
            udp(query, questionEnd, answer);
        }
    }

    private InetSocketAddress server(int index) {
        return settings.servers().get(index);
    }

    /** One server asked by a query: its timer (UDP) or connection (TCP), and its place in the order asked. */
    private static final class Ask {
        final int server;
        final int order;
        ScheduledFuture<?> timer;
        Channel channel;
        /** The query ended elsewhere: this server's silence says nothing about it. */
        boolean abandoned;

        Ask(int server, int order) {
            this.server = server;
            this.order = order;
        }
    }

    /**
     * One forwarded query, over either protocol: the servers asked and still awaited, the tries so far, the servers
     * whose answers were not final, and the one of those answers the client gets if nothing better comes. It owns
     * {@code query} and that answer until it completes.
     */
    private final class Forward {
        final ByteBuf query;
        final int originalId;
        final int questionEnd;
        final Promise<ByteBuf> answer;
        /** The id it is sent under over UDP (its key in {@link #pending}); -1 over TCP. */
        final int udpId;
        /** Servers asked and still awaited; null slots are free. At most {@code concurrency}. */
        final Ask[] inFlight;
        /** The server asked last: the next try takes the one after it, in the configured order. */
        int cursor;
        int tries;
        /** Servers whose answer was not final: not asked again. Null until the first. */
        BitSet answeredNotFinal;
        /** Of those answers, the one from the server asked earliest (its id restored), and that server's order. */
        ByteBuf keptNotFinal;
        int keptOrder = Integer.MAX_VALUE;
        boolean finished;

        Forward(ByteBuf query, int questionEnd, Promise<ByteBuf> answer, int udpId) {
            this.query = query;
            this.originalId = DnsMessage.id(query);
            this.questionEnd = questionEnd;
            this.answer = answer;
            this.udpId = udpId;
            this.inFlight = new Ask[Math.max(1, Math.min(settings.concurrency(), settings.attempts()))];
            int n = settings.servers().size();
            this.cursor = (silentServers.first() + n - 1) % n; // the first try asks the first server not held down
        }

        String protocol() {
            return udpId < 0 ? "tcp" : "udp";
        }

        /** Asks as many servers at once as it may. */
        void launch() {
            int asked = 0;
            while (asked < inFlight.length && askNext()) {
                asked++;
            }
        }

        /**
         * Asks the next server not yet heard from with a non-final answer and not awaited now (the same one again
         * when it is the only one left and was merely silent); false when the tries are spent or none is left.
         */
        boolean askNext() {
            if (closed || tries >= settings.attempts()) {
                return false;
            }
            int n = settings.servers().size();
            for (int i = 1; i <= n; i++) {
                int candidate = (cursor + i) % n;
                if ((answeredNotFinal == null || !answeredNotFinal.get(candidate)) && !awaiting(candidate)) {
                    for (int slot = 0; slot < inFlight.length; slot++) {
                        if (inFlight[slot] == null) {
                            cursor = candidate;
                            Ask ask = new Ask(candidate, tries++);
                            inFlight[slot] = ask;
                            if (udpId < 0) {
                                tcp(this, ask);
                            } else {
                                sendUdp(this, ask);
                            }
                            return true;
                        }
                    }
                    return false;
                }
            }
            return false;
        }

        boolean awaiting(int server) {
            for (Ask a : inFlight) {
                if (a != null && a.server == server) {
                    return true;
                }
            }
            return false;
        }

        /** The awaited ask to {@code sender}, or null (an answer from a server not asked, or no longer awaited). */
        Ask askTo(InetSocketAddress sender) {
            for (Ask a : inFlight) {
                if (a != null && server(a.server).equals(sender)) {
                    return a;
                }
            }
            return null;
        }

        /** Whether {@code msg} answers the question asked (the header's 12 bytes aside). */
        boolean answersQuestion(ByteBuf msg) {
            return msg.readableBytes() >= questionEnd && ByteBufUtil.equals(msg, msg.readerIndex() + DnsMessage.HEADER,
                    query, query.readerIndex() + DnsMessage.HEADER, questionEnd - DnsMessage.HEADER);
        }

        /** {@code ask}'s server gave {@code msg}, an answer that is not final: kept (a copy) if asked earliest. */
        void notFinal(Ask ask, ByteBuf msg) {
            if (answeredNotFinal == null) {
                answeredNotFinal = new BitSet(settings.servers().size());
            }
            answeredNotFinal.set(ask.server);
            if (ask.order < keptOrder) {
                if (keptNotFinal != null) {
                    keptNotFinal.release();
                }
                keptNotFinal = msg.copy(); // to its size, and off the read buffer
                keptNotFinal.setShort(keptNotFinal.readerIndex(), originalId);
                keptOrder = ask.order;
            }
        }

        /**
         * {@code ask} is over without a final answer ({@code reason}: the retry metric's); the query goes on with
         * the next server if a try is left, waits for those still asked, or ends ({@code why}, for the log).
         */
        void failed(Ask ask, String reason, String why) {
            if (!forget(ask) || finished) {
                return; // no longer awaited
            }
            boolean goesOn = askNext() || inFlightCount() > 0;
            if (goesOn) {
                retries.labelValues(protocol(), reason).inc();
            } else {
                end(why + " (" + tries + (tries == 1 ? " attempt)" : " attempts)"));
            }
        }

        /** Stops awaiting {@code ask}; false when it was not awaited. */
        private boolean forget(Ask ask) {
            if (ask.timer != null) {
                ask.timer.cancel(false);
            }
            for (int i = 0; i < inFlight.length; i++) {
                if (inFlight[i] == ask) {
                    inFlight[i] = null;
                    return true;
                }
            }
            return false;
        }

        int inFlightCount() {
            int count = 0;
            for (Ask a : inFlight) {
                if (a != null) {
                    count++;
                }
            }
            return count;
        }

        /** Completes with {@code answerToClient} (owned by the callee from here on). */
        void succeed(ByteBuf answerToClient) {
            finish();
            if (!answer.trySuccess(answerToClient)) {
                answerToClient.release();
            }
        }

        /** Nothing in flight and no try left: the kept non-final answer, else a failure saying {@code why}. */
        void end(String why) {
            ByteBuf kept = keptNotFinal;
            keptNotFinal = null;
            finish();
            if (kept == null) {
                answer.tryFailure(new Failure(why));
            } else if (!answer.trySuccess(kept)) {
                kept.release();
            }
        }

        void abort(String why) {
            finish();
            answer.tryFailure(new Failure(why));
        }

        /** Releases what it owns and lets go of the servers still asked (their answers, if any, are not awaited). */
        private void finish() {
            if (finished) {
                return;
            }
            finished = true;
            if (udpId >= 0) {
                pending.remove(udpId);
            }
            for (int i = 0; i < inFlight.length; i++) {
                Ask a = inFlight[i];
                if (a != null) {
                    inFlight[i] = null;
                    a.abandoned = true;
                    if (a.timer != null) {
                        a.timer.cancel(false);
                    }
                    if (a.channel != null) {
                        a.channel.close();
                    }
                }
            }
            query.release();
            if (keptNotFinal != null) {
                keptNotFinal.release();
                keptNotFinal = null;
            }
        }
    }

    // ---- UDP ----

    private void udp(ByteBuf query, int questionEnd, Promise<ByteBuf> answer) {
        if (udp == null || !udp.isActive()) {
            query.release();
            answer.setFailure(new Failure("upstream DNS socket not open"));
            return;
        }
        if (pending.size() >= settings.maxPending()) {
            query.release();
            answer.setFailure(new Failure(pending.size() + " queries already waiting for upstream DNS"));
            return;
        }
        int id;
        do {
            id = ThreadLocalRandom.current().nextInt(0x10000);
        } while (pending.containsKey(id));
        Forward p = new Forward(query, questionEnd, answer, id);
        query.setShort(query.readerIndex(), id);
        pending.put(id, p);
        p.launch();
    }

    private void sendUdp(Forward p, Ask ask) {
        udp.writeAndFlush(new DatagramPacket(p.query.retainedDuplicate(), server(ask.server)));
        ask.timer = loop.schedule(() -> {
            silentServers.silent(ask.server);
            p.failed(ask, "no_answer", "no answer from " + server(ask.server) + " within "
                    + settings.timeout().toMillis() + " ms");
        }, settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
    }

    private void answered(DatagramPacket packet) {
        ByteBuf msg = packet.content();
        int id = DnsMessage.id(msg);
        Forward p = id < 0 ? null : pending.get(id);
        // only a server asked, and only an answer to the question asked (a spoofed answer needs both and the id)
        Ask ask = p == null ? null : p.askTo(packet.sender());
        if (ask == null || !p.answersQuestion(msg)) {
            return; // SimpleChannelInboundHandler releases it
        }
        silentServers.answered(ask.server);
        String reason = DnsMessage.retryReason(msg, p.questionEnd);
        if (reason == null) {
            ByteBuf answer = msg.copy(); // to its size: the read buffer has room for 64 KiB
            answer.setShort(answer.readerIndex(), p.originalId);
            p.succeed(answer);
            return;
        }
        p.notFinal(ask, msg);
        p.failed(ask, reason, reason);
    }

    // ---- TCP ----

    private void tcp(Forward p, Ask ask) {
        InetSocketAddress server = server(ask.server);
        ByteBuf query = p.query;
        String[] movedOnBecause = {"no_answer"}; // or the reason of this server's non-final answer
        io.netty.channel.ChannelFuture connecting = net.client(loop, settings.timeout())
                .option(io.netty.channel.ChannelOption.AUTO_READ, true)
                .handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast(new LengthFieldBasedFrameDecoder(0xFFFF, 0, 2, 0, 2),
                                new SimpleChannelInboundHandler<ByteBuf>() {
                                    @Override
                                    public void channelActive(ChannelHandlerContext ctx) {
                                        ByteBuf framed = ctx.alloc().buffer(2 + query.readableBytes());
                                        framed.writeShort(query.readableBytes()).writeBytes(query,
                                                query.readerIndex(), query.readableBytes());
                                        ctx.writeAndFlush(framed);
                                    }

                                    @Override
                                    protected void channelRead0(ChannelHandlerContext ctx, ByteBuf msg) {
                                        if (!ask.abandoned && DnsMessage.id(msg) == p.originalId
                                                && p.answersQuestion(msg)) {
                                            silentServers.answered(ask.server);
                                            movedOnBecause[0] = null;
                                            String reason = DnsMessage.retryReason(msg, p.questionEnd);
                                            if (reason == null) {
                                                p.succeed(msg.copy()); // off the connection's buffer, which closes
                                            } else {
                                                p.notFinal(ask, msg);
                                                movedOnBecause[0] = reason;
                                            }
                                        }
                                        ctx.close();
                                    }

                                    @Override
                                    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
                                        ctx.close();
                                    }
                                });
                    }
                }).connect(server);
        ask.channel = connecting.channel();
        connecting.addListener((io.netty.channel.ChannelFutureListener) f -> {
            Channel ch = f.channel();
            ScheduledFuture<?> timer = loop.schedule(() -> {
                ch.close();
            }, settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
            ch.closeFuture().addListener(c -> {
                timer.cancel(false);
                if (ask.abandoned) {
                    return; // closed because the query ended elsewhere
                }
                if (movedOnBecause[0] == null) {
                    return; // answered finally: the query is complete
                }
                if ("no_answer".equals(movedOnBecause[0])) {
                    silentServers.silent(ask.server); // refused, dropped or silent: no answer at all
                }
                p.failed(ask, movedOnBecause[0], "no answer over TCP from " + server + " within "
                        + settings.timeout().toMillis() + " ms"
                        + (f.cause() == null ? "" : ": " + f.cause().getMessage()));
            });
        });
    }
}
