package io.jmesh.ztunnel.tunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.netty.channel.Channel;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.epoll.EpollChannelOption;
import io.netty.channel.unix.IntegerUnixChannelOption;
import io.vertx.core.Vertx;
import java.net.InetSocketAddress;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class NetTransportTest {

    static Vertx vertx;

    @BeforeAll
    static void start() {
        vertx = ServiceLauncher.newVertx(1);
    }

    @AfterAll
    static void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @Test
    void acceptedAndOutgoingSocketsHaveNoNagleAndKeepalive() throws Exception {
        NetTransport net = NetTransport.of(vertx);
        Channel[] both = pair(net);
        for (Channel ch : both) {
            assertThat(ch.config().getOption(ChannelOption.TCP_NODELAY)).as("TCP_NODELAY of %s", ch).isTrue();
            assertThat(ch.config().getOption(ChannelOption.SO_KEEPALIVE)).as("SO_KEEPALIVE of %s", ch).isTrue();
        }
        assertThat(net.epoll()).as("native epoll on Linux").isTrue();
        both[0].close().sync();
    }

    /**
     * The hostname resolver builds its own bootstraps from these factories: the sockets must carry ztunnel's mark
     * from creation (capture lets marked traffic through), as the bootstrap-made ones do.
     */
    @Test
    void socketsMadeForTheHostnameResolverCarryZtunnelsMark() throws Exception {
        IntegerUnixChannelOption soMark = new IntegerUnixChannelOption("SO_MARK", 1, 36);
        NetTransport net = NetTransport.of(vertx).withSocketMark(0x5a1);
        Channel udp;
        try {
            udp = net.datagramChannels().newChannel();
        } catch (RuntimeException e) {
            Assumptions.abort("setting SO_MARK needs CAP_NET_ADMIN: " + e.getMessage());
            return;
        }
        Channel tcp = net.socketChannels().newChannel();
        Channel plain = NetTransport.of(vertx).datagramChannels().newChannel();
        for (Channel ch : new Channel[] {udp, tcp, plain}) {
            net.nextLoop().register(ch).sync();
        }
        assertThat(udp.config().getOption(soMark)).isEqualTo(0x5a1);
        assertThat(tcp.config().getOption(soMark)).isEqualTo(0x5a1);
        assertThat(plain.config().getOption(soMark)).isZero();
        for (Channel ch : new Channel[] {udp, tcp, plain}) {
            ch.close().sync();
        }
    }

    /** A connected pair through {@code net}: the outgoing socket and the one its listener accepted. */
    static Channel[] pair(NetTransport net) throws Exception {
        CompletableFuture<Channel> accepted = new CompletableFuture<>();
        Channel server = net.server().childHandler(new ChannelInitializer<>() {
            @Override
            protected void initChannel(Channel ch) {
                accepted.complete(ch);
            }
        }).bind(new InetSocketAddress("127.0.0.1", 0)).sync().channel();
        try {
            Channel client = net.client(net.nextLoop(), Duration.ofSeconds(5))
                    .handler(new ChannelInitializer<>() {
                        @Override
                        protected void initChannel(Channel ch) {}
                    })
                    .connect(server.localAddress()).sync().channel();
            return new Channel[] {client, accepted.get(5, TimeUnit.SECONDS)};
        } finally {
            server.close().sync();
        }
    }

    @Test
    void istiosKeepaliveTimingsAndUserTimeoutOnBothSidesWhenConfigured() throws Exception {
        NetTransport net = NetTransport.of(vertx).withTcp(
                new ZtunnelConfig.Tcp(true, Duration.ofSeconds(180), Duration.ofSeconds(180), 9, true));
        Channel[] both = pair(net);
        for (Channel ch : both) {
            assertThat(ch.config().getOption(ChannelOption.SO_KEEPALIVE)).as("SO_KEEPALIVE of %s", ch).isTrue();
            assertThat(ch.config().getOption(EpollChannelOption.TCP_KEEPIDLE)).isEqualTo(180);
            assertThat(ch.config().getOption(EpollChannelOption.TCP_KEEPINTVL)).isEqualTo(180);
            assertThat(ch.config().getOption(EpollChannelOption.TCP_KEEPCNT)).isEqualTo(9);
            assertThat(ch.config().getOption(EpollChannelOption.TCP_USER_TIMEOUT)).as("180 s + 9 x 180 s")
                    .isEqualTo(1_800_000);
        }
        both[0].close().sync();

        Channel[] off = pair(NetTransport.of(vertx).withTcp(
                new ZtunnelConfig.Tcp(false, Duration.ofSeconds(180), Duration.ofSeconds(180), 9, false)));
        for (Channel ch : off) {
            assertThat(ch.config().getOption(ChannelOption.SO_KEEPALIVE)).as("SO_KEEPALIVE of %s", ch).isFalse();
            assertThat(ch.config().getOption(EpollChannelOption.TCP_USER_TIMEOUT)).isZero();
        }
        off[0].close().sync();
    }
}
