package io.jmesh.ztunnel.outbound;

import io.jmesh.core.config.Durations;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.netty.buffer.ByteBuf;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.DecoderResultProvider;
import io.netty.handler.codec.socksx.v5.DefaultSocks5CommandResponse;
import io.netty.handler.codec.socksx.v5.DefaultSocks5InitialResponse;
import io.netty.handler.codec.socksx.v5.Socks5AddressDecoder;
import io.netty.handler.codec.socksx.v5.Socks5AddressType;
import io.netty.handler.codec.socksx.v5.Socks5AuthMethod;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequest;
import io.netty.handler.codec.socksx.v5.Socks5CommandRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5CommandStatus;
import io.netty.handler.codec.socksx.v5.Socks5CommandType;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequest;
import io.netty.handler.codec.socksx.v5.Socks5InitialRequestDecoder;
import io.netty.handler.codec.socksx.v5.Socks5ServerEncoder;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

/**
 * SOCKS5 (RFC 1928) on 15080: no authentication, CONNECT by IPv4, IPv6 or hostname. The source workload is the
 * connection's source address among this node's workloads; anything else is refused with a log line and a
 * counted reason, and so is every malformed or unsupported request (after the greeting with a reply: 0x08 for an
 * unknown address type, else 0x01), and a client that has not sent its request within the handshake timeout.
 */
final class Socks5Handler extends ChannelInboundHandlerAdapter {

    static final String DECODER = "socks-decoder";
    static final String ENCODER = "socks-encoder";

    /**
     * Netty's address decoder, with an unknown address type told apart from other malformed requests: RFC 1928
     * answers it "address type not supported" (0x08).
     */
    private static final Socks5AddressDecoder ADDRESSES = (type, in) -> {
        int b = type.byteValue() & 0xFF;
        if (b != 0x01 && b != 0x03 && b != 0x04) {
            throw new UnsupportedAddressType(b);
        }
        return Socks5AddressDecoder.DEFAULT.decodeAddress(type, in);
    };

    private final OutboundProxy proxy;
    private final ConnectionTelemetry telemetry;
    private final Duration handshakeTimeout;
    /** Closes a client that has not sent its request in time; cancelled once it has, or when the socket closes. */
    private ScheduledFuture<?> deadline;
    /**
     * Bytes a pipelining client may send after its CONNECT, before our answer, that are read (and kept) while the
     * tunnel is set up; past this the socket is paused until the relay starts. Not pausing up front saves two
     * epoll_ctl calls per connection: most clients wait for the answer and send nothing early.
     */
    static final int EARLY_BYTES_LIMIT = 64 * 1024;

    private boolean commandSeen;
    private boolean greeted;
    private final List<Object> early = new ArrayList<>(2);
    private int earlyBytes;
    private boolean inputShutdown;
    /** Refused and closing: whatever the client still sends is dropped, never decoded. */
    private boolean refused;

    Socks5Handler(OutboundProxy proxy, ConnectionTelemetry telemetry, Duration handshakeTimeout) {
        this.proxy = proxy;
        this.telemetry = telemetry;
        this.handshakeTimeout = handshakeTimeout;
    }

    static void install(Channel ch, OutboundProxy proxy, ConnectionTelemetry telemetry, Duration handshakeTimeout) {
        ch.pipeline().addLast(ENCODER, Socks5ServerEncoder.DEFAULT)
                .addLast(DECODER, new Socks5InitialRequestDecoder())
                .addLast("socks", new Socks5Handler(proxy, telemetry, handshakeTimeout));
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        // without a deadline a client that sends half a greeting, or nothing, would hold its socket for good
        deadline = ctx.executor().schedule(() -> refuse(ctx, "socks_timeout", "no socks5 request within "
                + Durations.format(handshakeTimeout) + " of connecting", null),
                handshakeTimeout.toNanos(), TimeUnit.NANOSECONDS);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        cancelDeadline(); // the tunnel is up (the handler steps aside) or the socket closed
    }

    private void cancelDeadline() {
        if (deadline != null) {
            deadline.cancel(false);
            deadline = null;
        }
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) throws Exception {
        if (refused) {
            // e.g. bytes after a refused command: the finished command decoder passes them on as they are, and
            // handing them back to it (below) would loop until the stack overflows
            ReferenceCountUtil.release(msg);
            return;
        }
        if (commandSeen) {
            early.add(msg); // bytes sent right after CONNECT, before our answer; relayed first
            earlyBytes += msg instanceof ByteBuf b ? b.readableBytes() : 0;
            if (earlyBytes >= EARLY_BYTES_LIMIT) {
                ctx.channel().config().setAutoRead(false); // the relay turns it back on
            }
            return;
        }
        if (msg instanceof DecoderResultProvider p && p.decoderResult().isFailure()) {
            DecoderResult r = p.decoderResult();
            // after the greeting the client waits for a reply to its request (RFC 1928 section 6); before, none fits
            Socks5CommandStatus status = !(msg instanceof Socks5CommandRequest) ? null
                    : r.cause() instanceof UnsupportedAddressType ? Socks5CommandStatus.ADDRESS_UNSUPPORTED
                    : Socks5CommandStatus.FAILURE;
            ReferenceCountUtil.release(msg);
            refuse(ctx, "socks_malformed", "malformed socks5 request: " + r.cause().getMessage(), status);
            return;
        }
        if (msg instanceof Socks5InitialRequest init) {
            if (!init.authMethods().contains(Socks5AuthMethod.NO_AUTH)) {
                ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.UNACCEPTED));
                refuse(ctx, "socks_auth", "client offers no 'no authentication' method: " + init.authMethods(), null);
                return;
            }
            greeted = true;
            ctx.pipeline().replace(DECODER, DECODER, new Socks5CommandRequestDecoder(ADDRESSES));
            ctx.writeAndFlush(new DefaultSocks5InitialResponse(Socks5AuthMethod.NO_AUTH));
            return;
        }
        if (msg instanceof Socks5CommandRequest cmd) {
            cancelDeadline(); // from here the proxy's own timeouts (on-demand lookup, connect) apply
            if (cmd.type() != Socks5CommandType.CONNECT) {
                refuse(ctx, "socks_command", "unsupported socks5 command " + cmd.type() + " (only CONNECT)",
                        Socks5CommandStatus.COMMAND_UNSUPPORTED);
                return;
            }
            InetSocketAddress client = (InetSocketAddress) ctx.channel().remoteAddress();
            Workload source = proxy.source(client);
            if (source == null && proxy.onDemand()) {
                // on-demand discovery: ask policy for the client's workload, then look again (bytes the client
                // sends meanwhile are kept as early data)
                var asked = proxy.demandSource(client.getAddress());
                commandSeen |= !asked.isComplete();
                WorkloadStore.afterAnswer(asked, ctx.channel(), () -> {
                    if (!refused) {
                        connect(ctx, client, cmd, proxy.source(client));
                    }
                });
                return;
            }
            connect(ctx, client, cmd, source);
            return;
        }
        if (msg instanceof ByteBuf && greeted) {
            // a CONNECT pipelined with the greeting: the bytes left over when the greeting decoder was replaced
            // skip the new decoder, so hand them to it
            ChannelHandlerContext decoder = ctx.pipeline().context(DECODER);
            ((io.netty.channel.ChannelInboundHandler) decoder.handler()).channelRead(decoder, msg);
            return;
        }
        if (msg instanceof ByteBuf) {
            ReferenceCountUtil.release(msg);
            refuse(ctx, "socks_malformed", "unexpected bytes before the socks5 handshake finished", null);
            return;
        }
        ReferenceCountUtil.release(msg);
    }

    /** A CONNECT from {@code source} (null: not a workload on this node, refused). */
    private void connect(ChannelHandlerContext ctx, InetSocketAddress client, Socks5CommandRequest cmd,
            Workload source) {
        if (source == null) {
            refuse(ctx, "unknown_source", "source address " + client.getAddress().getHostAddress()
                    + " is not a workload on this node", Socks5CommandStatus.FORBIDDEN);
            return;
        }
        commandSeen = true;
        proxy.proxy(ctx.channel(), source, cmd.dstAddr(), cmd.dstPort(), early, new OutboundProxy.Outcome() {
            @Override
            public void established(Channel c, Runnable startRelay) {
                c.eventLoop().execute(() -> c.writeAndFlush(new DefaultSocks5CommandResponse(
                        Socks5CommandStatus.SUCCESS, Socks5AddressType.IPv4, "0.0.0.0", 0)).addListener(f -> {
                            if (c.pipeline().get(DECODER) != null) {
                                c.pipeline().remove(DECODER);
                            }
                            c.pipeline().remove(ENCODER);
                            c.pipeline().remove(Socks5Handler.this);
                            startRelay.run();
                            if (inputShutdown && c.isActive()) {
                                // the client's FIN came with its early bytes: the relay half-closes the tunnel
                                c.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
                            }
                        }));
            }

            @Override
            public void failed(Channel c, String reason, String detail) {
                Socks5CommandStatus status = reason.startsWith("hbone_status_401") ? Socks5CommandStatus.FORBIDDEN
                        : reason.equals("connect_failed") ? Socks5CommandStatus.CONNECTION_REFUSED
                        : Socks5CommandStatus.HOST_UNREACHABLE;
                c.eventLoop().execute(() -> {
                    early.forEach(ReferenceCountUtil::release);
                    early.clear();
                    c.writeAndFlush(new DefaultSocks5CommandResponse(status, Socks5AddressType.IPv4, "0.0.0.0", 0))
                            .addListener(ChannelFutureListener.CLOSE);
                });
            }
        });
    }

    private void refuse(ChannelHandlerContext ctx, String reason, String detail, Socks5CommandStatus status) {
        if (refused) {
            return; // one refusal per connection: one count, one log line
        }
        refused = true;
        cancelDeadline();
        InetSocketAddress client = (InetSocketAddress) ctx.channel().remoteAddress();
        telemetry.rejected(true, reason, detail, client, "socks5");
        if (status != null) {
            ctx.writeAndFlush(new DefaultSocks5CommandResponse(status, Socks5AddressType.IPv4, "0.0.0.0", 0))
                    .addListener(ChannelFutureListener.CLOSE);
        } else {
            ctx.close();
        }
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (!(evt instanceof ChannelInputShutdownEvent)) {
            ctx.fireUserEventTriggered(evt);
        } else if (commandSeen) {
            inputShutdown = true; // replayed once the relay runs
        } else {
            refuse(ctx, "socks_malformed", "client closed its side before the socks5 handshake finished", null);
        }
    }

    @Override
    public void channelInactive(ChannelHandlerContext ctx) {
        cancelDeadline();
        early.forEach(ReferenceCountUtil::release);
        early.clear();
        ctx.fireChannelInactive();
    }

    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        refuse(ctx, "socks_malformed", "socks5 error: " + cause.getMessage(), null);
    }

    /** An address type RFC 1928 does not define (1 IPv4, 3 domain name, 4 IPv6). */
    private static final class UnsupportedAddressType extends DecoderException {
        UnsupportedAddressType(int type) {
            super("unsupported address type 0x" + Integer.toHexString(type) + " (expected: 0x01, 0x03 or 0x04)");
        }
    }
}
