package io.jmesh.ztunnel.tunnel;

import io.jmesh.ztunnel.ZtunnelConfig;
import io.netty.bootstrap.Bootstrap;
import io.netty.bootstrap.ServerBootstrap;
import io.netty.channel.AdaptiveRecvByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.ServerChannel;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.channel.group.ChannelGroup;
import io.netty.channel.epoll.Epoll;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.socket.DatagramChannel;
import io.netty.channel.socket.InternetProtocolFamily;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.unix.IntegerUnixChannelOption;
import io.vertx.core.Vertx;
import io.vertx.core.internal.VertxInternal;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.time.Duration;

/**
 * Netty on Vert.x's own event loops and transport (epoll when Vert.x loaded it): ztunnel's sockets share the
 * threads of its gRPC clients and admin servers, so there is one set of I/O threads per process.
 */
public final class NetTransport {

    /** Send-side buffering per socket before the other side of a relay is paused. */
    static final WriteBufferWaterMark WATER_MARK = new WriteBufferWaterMark(256 * 1024, 1024 * 1024);
    /**
     * Buffering per HBONE stream before its relay pauses the TCP side: Netty's 64 KiB default would cap every
     * tunnel far below the 4 MiB flow-control window.
     */
    public static final WriteBufferWaterMark STREAM_WATER_MARK = new WriteBufferWaterMark(1024 * 1024, 4 * 1024 * 1024);
    /** Reads grow up to 256 KiB so a busy tunnel moves large buffers and large DATA frames. */
    static final AdaptiveRecvByteBufAllocator RECV = new AdaptiveRecvByteBufAllocator(512, 16 * 1024, 256 * 1024);

    /** Netty has no named option for it: SOL_SOCKET (1), SO_MARK (36) as Linux defines them. */
    private static final IntegerUnixChannelOption SO_MARK = new IntegerUnixChannelOption("SO_MARK", 1, 36);

    private final VertxInternal vertx;
    private final EventLoopGroup workers;
    private final EventLoopGroup acceptors;
    private final ChannelFactory<? extends Channel> socket;
    private final ChannelFactory<? extends ServerChannel> server;
    private final boolean epoll;
    private final int socketMark;
    private final NetworkNamespace namespace;
    private final ChannelGroup members;
    private final boolean reusePort;
    private final ZtunnelConfig.Tcp tcp;

    private NetTransport(VertxInternal vertx, int socketMark, NetworkNamespace namespace, ChannelGroup members,
            boolean reusePort, ZtunnelConfig.Tcp tcp) {
        this.vertx = vertx;
        this.workers = vertx.nettyEventLoopGroup();
        this.acceptors = vertx.acceptorEventLoopGroup();
        ChannelFactory<? extends Channel> sockets = vertx.transport().channelFactory(false);
        ChannelFactory<? extends ServerChannel> servers = vertx.transport().serverChannelFactory(false);
        this.socket = namespace == null ? sockets : () -> joined(namespace.enter(sockets::newChannel), members);
        this.server = namespace == null ? servers : () -> joined(namespace.enter(servers::newChannel), members);
        this.epoll = Epoll.isAvailable() && vertx.isNativeTransportEnabled();
        this.socketMark = socketMark;
        this.namespace = namespace;
        this.members = members;
        this.reusePort = reusePort;
        this.tcp = tcp;
    }

    private static <C extends Channel> C joined(C channel, ChannelGroup members) {
        members.add(channel);
        return channel;
    }

    public static NetTransport of(Vertx vertx) {
        return new NetTransport((VertxInternal) vertx, 0, null, null, false, null);
    }

    /**
     * Every socket opened or accepted through this transport carries {@code SO_MARK mark} (epoll only; needs
     * CAP_NET_ADMIN): transparent capture recognises ztunnel's own traffic by it and never captures it.
     */
    public NetTransport withSocketMark(int mark) {
        return new NetTransport(vertx, mark, namespace, members, reusePort, tcp);
    }

    /**
     * Sockets created in {@code namespace} (in-pod mode: the pod's), on the same event loops; every socket created
     * or accepted joins {@code members}, so the pod's proxy can close all of them when the pod leaves. With {@code reusePort} listeners set {@code SO_REUSEPORT}, so a restarted ztunnel can bind
     * the pod's ports while the old one still drains (Istio's {@code INPOD_PORT_REUSE}).
     */
    public NetTransport in(NetworkNamespace namespace, ChannelGroup members, boolean reusePort) {
        return new NetTransport(vertx, socketMark, namespace, members, reusePort, tcp);
    }

    /**
     * Every socket accepted or opened through this transport gets {@code tcp}'s keepalive (and user timeout); without
     * it sockets keep SO_KEEPALIVE with the kernel's timings (tests, benchmarks).
     */
    public NetTransport withTcp(ZtunnelConfig.Tcp tcp) {
        return new NetTransport(vertx, socketMark, namespace, members, reusePort, tcp);
    }

    /** The SO_MARK of ztunnel's sockets, 0 for none. */
    public int socketMark() {
        return socketMark;
    }

    /** Whether sockets are made in a pod's network namespace (in-pod mode), whose loopback is the pod's own. */
    public boolean inPodNamespace() {
        return namespace != null;
    }

    public boolean epoll() {
        return epoll;
    }

    public EventLoopGroup workers() {
        return workers;
    }

    public EventLoop nextLoop() {
        return workers.next();
    }

    /*
     * No Nagle on every socket: Netty's socket configs (epoll and NIO) switch TCP_NODELAY on when they are created,
     * so setting the option again would only repeat that setsockopt for every connection (NetTransportTest checks
     * that the sockets have it).
     */

    /** A listener whose accepted sockets are ready for relaying (no Nagle, half-close, autoRead off). */
    public ServerBootstrap server() {
        ServerBootstrap b = new ServerBootstrap()
                .group(acceptors, workers)
                .channelFactory(server)
                .option(ChannelOption.SO_REUSEADDR, true)
                .option(ChannelOption.SO_BACKLOG, 4096)
                .childOption(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .childOption(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .childOption(ChannelOption.RCVBUF_ALLOCATOR, RECV);
        if (epoll && socketMark != 0) {
            b.option(SO_MARK, socketMark)
                    .childOption(SO_MARK, socketMark);
        }
        keepalive(b::childOption);
        if (members != null) {
            b.handler(new Members(members));
        }
        if (reusePort && epoll) {
            b.option(io.netty.channel.epoll.EpollChannelOption.SO_REUSEPORT, true);
        }
        return b;
    }

    /** Sets an option on the sockets a bootstrap makes (its own for a client, the accepted ones for a server). */
    private interface SocketOptions {
        <T> Object set(ChannelOption<T> option, T value);
    }

    private void keepalive(SocketOptions set) {
        set.set(ChannelOption.SO_KEEPALIVE, tcp == null || tcp.keepalive());
        if (tcp == null || !tcp.keepalive() || !epoll) {
            return; // NIO: SO_KEEPALIVE with the system's timings
        }
        set.set(EpollChannelOption.TCP_KEEPIDLE, (int) tcp.keepaliveTime().toSeconds());
        set.set(EpollChannelOption.TCP_KEEPINTVL, (int) tcp.keepaliveInterval().toSeconds());
        set.set(EpollChannelOption.TCP_KEEPCNT, tcp.keepaliveRetries());
        if (tcp.userTimeout()) {
            set.set(EpollChannelOption.TCP_USER_TIMEOUT, tcp.userTimeoutMillis());
        }
    }

    /** On a listener: each accepted socket joins the group before the child handler sees it. */
    @io.netty.channel.ChannelHandler.Sharable
    private static final class Members extends io.netty.channel.ChannelInboundHandlerAdapter {
        private final ChannelGroup group;

        Members(ChannelGroup group) {
            this.group = group;
        }

        @Override
        public void channelRead(io.netty.channel.ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Channel child) {
                group.add(child);
            }
            ctx.fireChannelRead(msg);
        }
    }

    /**
     * A UDP socket on {@code loop}, of the family of {@code bindAddress} (null: the system's default, dual-stack
     * where IPv6 is on), carrying ztunnel's socket mark like every other socket.
     */
    public Bootstrap datagram(EventLoop loop, InetAddress bindAddress) {
        InternetProtocolFamily family = bindAddress == null ? null
                : bindAddress instanceof Inet4Address ? InternetProtocolFamily.IPv4 : InternetProtocolFamily.IPv6;
        Bootstrap b = new Bootstrap()
                .group(loop)
                .channelFactory(() -> {
                    ChannelFactory<Channel> create = () -> family == null ? vertx.transport().datagramChannel()
                            : vertx.transport().datagramChannel(family);
                    return namespace == null ? create.newChannel()
                            : joined(namespace.enter(create::newChannel), members);
                });
        if (epoll && socketMark != 0) {
            b.option(SO_MARK, socketMark);
        }
        return b;
    }

    /**
     * A UDP socket that serves a port (the DNS proxy's), as {@link #datagram}; with {@code reusePort} (in-pod mode) it
     * sets {@code SO_REUSEPORT} like the listeners, so a new ztunnel can bind the pod's DNS port while the old one still
     * answers there (Istio's in-pod UDP sockets set it too). Sockets to a peer ({@link #datagram}) need not.
     */
    public Bootstrap datagramServer(EventLoop loop, InetAddress bindAddress) {
        Bootstrap b = datagram(loop, bindAddress);
        if (reusePort && epoll) {
            b.option(io.netty.channel.epoll.EpollChannelOption.SO_REUSEPORT, true);
        }
        return b;
    }

    /**
     * UDP sockets for a component that builds its own bootstrap (Netty's DNS resolver, for hostname endpoints): of
     * the system's default family, in this transport's namespace, with ztunnel's socket mark set as they are created
     * (a bootstrap option of ours would not reach them), so capture never takes ztunnel's own lookups.
     */
    public ChannelFactory<DatagramChannel> datagramChannels() {
        return () -> marked(namespace == null ? vertx.transport().datagramChannel()
                : joined(namespace.enter(vertx.transport()::datagramChannel), members));
    }

    /** TCP sockets for the same (the DNS resolver's retry over TCP of a truncated answer), marked likewise. */
    public ChannelFactory<SocketChannel> socketChannels() {
        return () -> marked((SocketChannel) socket.newChannel());
    }

    /** {@code channel} with ztunnel's mark; closed, and the failure thrown, when the mark cannot be set. */
    private <C extends Channel> C marked(C channel) {
        if (epoll && socketMark != 0) {
            try {
                channel.config().setOption(SO_MARK, socketMark);
            } catch (RuntimeException e) {
                channel.unsafe().closeForcibly();
                throw e;
            }
        }
        return channel;
    }

    /** An outgoing socket on {@code loop} (the loop of the connection it serves, so relays stay on one thread). */
    public Bootstrap client(EventLoop loop, Duration connectTimeout) {
        Bootstrap b = new Bootstrap()
                .group(loop)
                .channelFactory(socket)
                .option(ChannelOption.ALLOW_HALF_CLOSURE, true)
                .option(ChannelOption.AUTO_READ, false)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .option(ChannelOption.RCVBUF_ALLOCATOR, RECV)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, connectTimeout.toMillis()));
        if (epoll) {
            // sockets bound to a source address take their port at connect time, per destination: without this
            // every bound connection holds a port of the whole ephemeral range (and TIME_WAIT exhausts it)
            b.option(io.netty.channel.epoll.EpollChannelOption.IP_BIND_ADDRESS_NO_PORT, true);
            if (socketMark != 0) {
                b.option(SO_MARK, socketMark);
            }
        }
        keepalive(b::option);
        return b;
    }
}
