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
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;

/**
 * Forwards the queries the proxy does not answer to the upstream resolvers, byte for byte, in the protocol the
 * client used: UDP through one socket (each query under an id of its own, restored in the answer; an answer is
 * accepted only from the server asked and with the question asked), TCP on a connection per query. A server that
 * does not answer within the timeout is followed by the next one, up to {@code attempts} tries. Everything runs on
 * one event loop; at most {@code maxPending} UDP queries are in flight, more fail at once.
 */
final class Upstream {

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
    private final IntObjectHashMap<Pending> pending = new IntObjectHashMap<>();
    private Channel udp;

    /** @param loop the thread of the forwarder: the UDP listener's, so a forwarded query never changes threads */
    Upstream(NetTransport net, Settings settings, EventLoop loop) {
        this.net = net;
        this.settings = settings;
        this.loop = loop;
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
            for (Pending p : pending.values()) {
                p.timer.cancel(false);
                p.fail("ztunnel is shutting down");
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
            tcp(query, answer, 0);
        } else {
            udp(query, questionEnd, answer);
        }
    }

    private InetSocketAddress server(int attempt) {
        List<InetSocketAddress> servers = settings.servers();
        return servers.get(attempt % servers.size());
    }

    // ---- UDP ----

    private final class Pending {
        final ByteBuf query;
        final int originalId;
        final int questionEnd;
        final Promise<ByteBuf> answer;
        int attempt;
        ScheduledFuture<?> timer;

        Pending(ByteBuf query, int originalId, int questionEnd, Promise<ByteBuf> answer) {
            this.query = query;
            this.originalId = originalId;
            this.questionEnd = questionEnd;
            this.answer = answer;
        }

        void fail(String why) {
            query.release();
            answer.tryFailure(new Failure(why));
        }
    }

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
        Pending p = new Pending(query, DnsMessage.id(query), questionEnd, answer);
        query.setShort(query.readerIndex(), id);
        pending.put(id, p);
        send(id, p);
    }

    private void send(int id, Pending p) {
        udp.writeAndFlush(new DatagramPacket(p.query.retainedDuplicate(), server(p.attempt)));
        p.timer = loop.schedule(() -> timedOut(id, p), settings.timeout().toNanos(), TimeUnit.NANOSECONDS);
    }

    private void timedOut(int id, Pending p) {
        if (pending.get(id) != p) {
            return;
        }
        if (++p.attempt < settings.attempts()) {
            send(id, p);
        } else {
            pending.remove(id);
            p.fail("no answer from " + server(p.attempt - 1) + " within " + settings.timeout().toMillis()
                    + " ms (" + p.attempt + " attempts)");
        }
    }

    private void answered(DatagramPacket packet) {
        ByteBuf msg = packet.content();
        int id = DnsMessage.id(msg);
        Pending p = id < 0 ? null : pending.get(id);
        // only the server asked, and only an answer to the question asked (a spoofed answer needs both and the id)
        if (p == null || !packet.sender().equals(server(p.attempt)) || msg.readableBytes() < p.questionEnd
                || !ByteBufUtil.equals(msg, msg.readerIndex() + DnsMessage.HEADER, p.query,
                        p.query.readerIndex() + DnsMessage.HEADER, p.questionEnd - DnsMessage.HEADER)) {
            return; // SimpleChannelInboundHandler releases it
        }
        pending.remove(id);
        p.timer.cancel(false);
        p.query.release();
        ByteBuf answer = msg.copy(); // to its size: the read buffer has room for 64 KiB
        answer.setShort(answer.readerIndex(), p.originalId);
        if (!p.answer.trySuccess(answer)) {
            answer.release();
        }
    }

    // ---- TCP ----

    private void tcp(ByteBuf query, Promise<ByteBuf> answer, int attempt) {
        InetSocketAddress server = server(attempt);
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
                                        if (DnsMessage.id(msg) == DnsMessage.id(query) && answer.trySuccess(
                                                msg.retain())) {
                                            query.release();
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
                        if (answer.isDone()) {
                            return;
                        }
                        if (attempt + 1 < settings.attempts()) {
                            tcp(query, answer, attempt + 1);
                        } else {
                            query.release();
                            answer.tryFailure(new Failure("no answer over TCP from " + server + " within "
                                    + settings.timeout().toMillis() + " ms (" + (attempt + 1) + " attempts)"
                                    + (f.cause() == null ? "" : ": " + f.cause().getMessage())));
                        }
                    });
                });
    }
}
