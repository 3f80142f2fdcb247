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
 * accepted only from the server asked and with the question asked), TCP on a connection per query (the same checks).
 * Up to {@code attempts} tries in all, each asking one server: a server that does not answer within the timeout is
 * followed by the next one, and so is one whose answer Istio's forwarder (hickory's name server pool) does not take
 * as final ({@link DnsMessage#retryReason}: SERVFAIL, REFUSED, another error, or a negative answer without the zone's
 * SOA or NS). Such a server is not asked again for that query. When no try is left, the client gets the first such
 * answer as it came (as hickory keeps the first of equal errors), or, when no server answered at all, a failure
 * (the proxy's SERVFAIL). Every try sent on is counted in {@code ztunnel_dns_upstream_retries_total}. A server that
 * let a try time out (or refused its TCP connection) is held down ({@link SilentServers}): the queries meanwhile start
 * with another. Everything runs on one event loop; at most {@code maxPending} UDP queries are in flight, more fail at
 * once.
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

    record Settings(List<InetSocketAddress> servers, Duration timeout, int attempts, int maxPending) {}

    private final NetTransport net;
    private final Settings settings;
    private final EventLoop loop;
    private final Counter retries;
    private final IntObjectHashMap<Forward> pending = new IntObjectHashMap<>();
    private final SilentServers silentServers;
    private Channel udp;

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
        if (udp != null) {
            udp.close();
        }
        loop.execute(() -> {
            for (Forward p : pending.values()) {
                p.timer.cancel(false);
                p.abort("ztunnel is shutting down");
            }
            pending.clear();
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
            loop.execute(() -> start(query, questionEnd, tcp, answer));
        }
        return answer;
    }

    private void start(ByteBuf query, int questionEnd, boolean tcp, Promise<ByteBuf> answer) {
        if (tcp) {
            tcp(new Forward(query, questionEnd, answer));
        } else {
            udp(query, questionEnd, answer);
        }
    }

    private InetSocketAddress server(int index) {
        return settings.servers().get(index);
    }

    /**
     * One forwarded query, over either protocol: the server asked now, the tries so far, the servers whose answers
     * sent it on, and the first of those answers. It owns {@code query} and that answer until it completes.
     */
    private final class Forward {
        final ByteBuf query;
        final int originalId;
        final int questionEnd;
        final Promise<ByteBuf> answer;
        int server;
        int tries = 1;
        /** Servers whose answer sent the query on: not asked again. Null until the first. */
        BitSet answeredNotFinal;
        /** The first of those answers, its id restored: the client's when no try is left. */
        ByteBuf firstNotFinal;
        ScheduledFuture<?> timer;

        Forward(ByteBuf query, int questionEnd, Promise<ByteBuf> answer) {
            this.query = query;
            this.originalId = DnsMessage.id(query);
            this.questionEnd = questionEnd;
            this.answer = answer;
            this.server = silentServers.first();
        }

        /** Whether {@code msg} answers the question asked (the header's 12 bytes aside). */
        boolean answersQuestion(ByteBuf msg) {
            return msg.readableBytes() >= questionEnd && ByteBufUtil.equals(msg, msg.readerIndex() + DnsMessage.HEADER,
                    query, query.readerIndex() + DnsMessage.HEADER, questionEnd - DnsMessage.HEADER);
        }

        /**
         * Moves on to the next server not yet heard from with a non-final answer (the same one again when it is the
         * only one left and was merely silent); false when the attempts are spent or no such server is left.
         */
        boolean next() {
            if (tries >= settings.attempts()) {
                return false;
            }
            int n = settings.servers().size();
            for (int i = 1; i <= n; i++) {
                int candidate = (server + i) % n;
                if (answeredNotFinal == null || !answeredNotFinal.get(candidate)) {
                    server = candidate;
                    tries++;
                    return true;
                }
            }
            return false;
        }

        /** The server asked now gave {@code msg}, an answer that is not final: kept (a copy) when the first. */
        void notFinal(ByteBuf msg) {
            if (answeredNotFinal == null) {
                answeredNotFinal = new BitSet(settings.servers().size());
            }
            answeredNotFinal.set(server);
            if (firstNotFinal == null) {
                firstNotFinal = msg.copy(); // to its size, and off the read buffer
                firstNotFinal.setShort(firstNotFinal.readerIndex(), originalId);
            }
        }

        /** Completes with {@code answerToClient} (owned by the callee from here on). */
        void succeed(ByteBuf answerToClient) {
            query.release();
            if (firstNotFinal != null) {
                firstNotFinal.release();
                firstNotFinal = null;
            }
            if (!answer.trySuccess(answerToClient)) {
                answerToClient.release();
            }
        }

        /** No try left: the first non-final answer, else a failure saying {@code why}. */
        void end(String why) {
            ByteBuf kept = firstNotFinal;
            firstNotFinal = null;
            if (kept == null) {
                abort(why);
                return;
            }
            query.release();
            if (!answer.trySuccess(kept)) {
                kept.release();
            }
        }

        void abort(String why) {
            query.release();
            if (firstNotFinal != null) {
                firstNotFinal.release();
                firstNotFinal = null;
            }
            answer.tryFailure(new Failure(why));
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
        Forward p = new Forward(query, questionEnd, answer);
        query.setShort(query.readerIndex(), id);
        pending.put(id, p);
        send(id, p);
    }

    private void send(int id, Forward p) {
        udp.writeAndFlush(new DatagramPacket(p.query.retainedDuplicate(), server(p.server)));
        p.timer = loop.schedule(() -> timedOut(id, p), settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
    }

    private void timedOut(int id, Forward p) {
        if (pending.get(id) != p) {
            return;
        }
        InetSocketAddress silent = server(p.server);
        silentServers.silent(p.server);
        if (p.next()) {
            retries.labelValues("udp", "no_answer").inc();
            send(id, p);
        } else {
            pending.remove(id);
            p.end("no answer from " + silent + " within " + settings.timeout().toMillis() + " ms (" + p.tries
                    + " attempts)");
        }
    }

    private void answered(DatagramPacket packet) {
        ByteBuf msg = packet.content();
        int id = DnsMessage.id(msg);
        Forward p = id < 0 ? null : pending.get(id);
        // only the server asked, and only an answer to the question asked (a spoofed answer needs both and the id)
        if (p == null || !packet.sender().equals(server(p.server)) || !p.answersQuestion(msg)) {
            return; // SimpleChannelInboundHandler releases it
        }
        p.timer.cancel(false);
        silentServers.answered(p.server);
        String reason = DnsMessage.retryReason(msg, p.questionEnd);
        if (reason == null) {
            pending.remove(id);
            ByteBuf answer = msg.copy(); // to its size: the read buffer has room for 64 KiB
            answer.setShort(answer.readerIndex(), p.originalId);
            p.succeed(answer);
            return;
        }
        p.notFinal(msg);
        if (p.next()) {
            retries.labelValues("udp", reason).inc();
            send(id, p);
        } else {
            pending.remove(id);
            p.end(reason);
        }
    }

    // ---- TCP ----

    private void tcp(Forward p) {
        int asked = p.server;
        InetSocketAddress server = server(asked);
        ByteBuf query = p.query;
        String[] movedOnBecause = {"no_answer"}; // or the reason of this server's non-final answer
        net.client(loop, settings.timeout()).option(io.netty.channel.ChannelOption.AUTO_READ, true)
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
                                        if (!p.answer.isDone() && DnsMessage.id(msg) == p.originalId
                                                && p.answersQuestion(msg)) {
                                            silentServers.answered(asked);
                                            movedOnBecause[0] = null;
                                            String reason = DnsMessage.retryReason(msg, p.questionEnd);
                                            if (reason == null) {
                                                p.succeed(msg.copy()); // off the connection's buffer, which closes
                                            } else {
                                                p.notFinal(msg);
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
                }).connect(server).addListener((io.netty.channel.ChannelFutureListener) f -> {
                    Channel ch = f.channel();
                    ScheduledFuture<?> timer = loop.schedule(() -> {
                        ch.close();
                    }, settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
                    ch.closeFuture().addListener(c -> {
                        timer.cancel(false);
                        if ("no_answer".equals(movedOnBecause[0])) {
                            silentServers.silent(asked); // refused, dropped or silent: no answer at all
                        }
                        if (p.answer.isDone()) {
                            return;
                        }
                        if (p.next()) {
                            retries.labelValues("tcp", movedOnBecause[0]).inc();
                            tcp(p);
                        } else {
                            p.end("no answer over TCP from " + server + " within " + settings.timeout().toMillis()
                                    + " ms (" + p.tries + " attempts)"
                                    + (f.cause() == null ? "" : ": " + f.cause().getMessage()));
                        }
                    });
                });
    }
}
