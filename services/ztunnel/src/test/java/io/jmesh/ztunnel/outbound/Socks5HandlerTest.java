package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.SocketAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SOCKS5 handshake against clients that stall or send what RFC 1928 does not define: a client that has not
 * sent its request within {@code socks5.handshakeTimeout} is closed and counted (the deadline ends with the
 * request and with the socket), and a malformed request after the greeting gets its reply before the close.
 * Time on the embedded channels is frozen and advanced by hand.
 */
class Socks5HandlerTest {

    static final Duration DEADLINE = Duration.ofSeconds(10);

    final ConnectionTelemetry telemetry = new ConnectionTelemetry(new PrometheusRegistry(), null, false, "n");

    @TempDir
    Path dir;

    /** A channel with the SOCKS5 handlers, its clock frozen before the deadline is set. */
    EmbeddedChannel socks(OutboundProxy proxy) {
        EmbeddedChannel ch = new EmbeddedChannel() {
            @Override
            protected SocketAddress remoteAddress0() {
                return new InetSocketAddress("127.0.0.1", 40000);
            }
        };
        ch.freezeTime();
        Socks5Handler.install(ch, proxy, telemetry, DEADLINE);
        return ch;
    }

    @Test
    void aClientThatStallsInItsGreetingIsClosedAtTheDeadline() {
        EmbeddedChannel ch = socks(null);
        ch.writeInbound(Unpooled.wrappedBuffer(new byte[] {5})); // half a greeting, then silence
        ch.advanceTimeBy(DEADLINE.toMillis() - 1, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
        assertThat(ch.isOpen()).as("not before the deadline").isTrue();
        ch.advanceTimeBy(1, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
        assertThat(ch.isOpen()).isFalse();
        assertThat((Object) ch.readOutbound()).as("no reply fits a half greeting").isNull();
        assertThat(telemetry.rejections(true, "socks_timeout")).isEqualTo(1);
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void aClientThatGreetsAndSendsNoRequestIsClosedAtTheDeadline() {
        EmbeddedChannel ch = socks(null);
        ch.writeInbound(Unpooled.wrappedBuffer(HexFormat.of().parseHex("050100")));
        assertThat(hex(ch.readOutbound())).isEqualTo("0500");
        ch.advanceTimeBy(DEADLINE.toMillis(), TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
        assertThat(ch.isOpen()).isFalse();
        assertThat(telemetry.rejections(true, "socks_timeout")).isEqualTo(1);
        ch.finishAndReleaseAll();
    }

    @Test
    void theDeadlineEndsWithTheRequestAndWithTheSocket() throws Exception {
        // on-demand discovery that never answers: the CONNECT stays pending on its source lookup
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of()).config();
        WorkloadStore store = new WorkloadStore();
        store.demandFrom(alias -> Promise.<Void>promise().future());
        EmbeddedChannel ch = socks(new OutboundProxy(config, store, null, null, telemetry, null));
        ch.writeInbound(Unpooled.wrappedBuffer(HexFormat.of().parseHex("050100" + "05010001" + "7f0000010050")));
        assertThat(hex(ch.readOutbound())).isEqualTo("0500");
        assertThat(ch.runScheduledPendingTasks()).as("no timer once the request is in").isEqualTo(-1);
        ch.advanceTimeBy(DEADLINE.toMillis() * 2, TimeUnit.MILLISECONDS);
        ch.runScheduledPendingTasks();
        assertThat(ch.isOpen()).isTrue();
        assertThat(telemetry.rejections(true, "socks_timeout")).isZero();
        ch.finishAndReleaseAll();

        EmbeddedChannel closed = socks(null);
        closed.close();
        assertThat(closed.runScheduledPendingTasks()).as("no timer left behind by a closed socket").isEqualTo(-1);
        closed.finishAndReleaseAll();
    }

    @Test
    void anUnknownAddressTypeIsAnsweredAddressTypeNotSupported() {
        EmbeddedChannel ch = socks(null);
        // greeting, then CONNECT with ATYP 0x05 (RFC 1928 defines 1, 3 and 4)
        ch.writeInbound(Unpooled.wrappedBuffer(HexFormat.of().parseHex("050100" + "05010005" + "7f0000010050")));
        assertThat(hex(ch.readOutbound())).isEqualTo("0500");
        assertThat(hex(ch.readOutbound())).as("0x08 address type not supported").isEqualTo("05080001000000000000");
        assertThat(ch.isOpen()).isFalse();
        assertThat(telemetry.rejections(true, "socks_malformed")).isEqualTo(1);
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void anotherMalformedRequestAfterTheGreetingIsAnsweredGeneralFailure() {
        EmbeddedChannel ch = socks(null);
        // greeting, then a request with version 4
        ch.writeInbound(Unpooled.wrappedBuffer(HexFormat.of().parseHex("050100" + "04010001" + "7f0000010050")));
        assertThat(hex(ch.readOutbound())).isEqualTo("0500");
        assertThat(hex(ch.readOutbound())).as("0x01 general failure").isEqualTo("05010001000000000000");
        assertThat(ch.isOpen()).isFalse();
        assertThat(telemetry.rejections(true, "socks_malformed")).isEqualTo(1);
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void aStalledClientOnTheListenerIsClosedAfterTheConfiguredTimeout() throws Exception {
        Path file = dir.resolve("ztunnel.yaml");
        Files.writeString(file, """
                listeners: {socks5: 0, outboundCapture: -1}
                socks5: {handshakeTimeout: 100ms}
                """);
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", file, Map.of()).config();
        assertThat(config.socks5().handshakeTimeout()).isEqualTo(Duration.ofMillis(100));
        Vertx vertx = ServiceLauncher.newVertx(1);
        try {
            OutboundListeners listeners = new OutboundListeners(config,
                    new OutboundProxy(config, new WorkloadStore(), null, null, telemetry, null), telemetry,
                    NetTransport.of(vertx), InetAddress.getByName("127.0.151.1"));
            listeners.start().await(10, TimeUnit.SECONDS);
            try (Socket s = new Socket()) {
                s.connect(listeners.socks5Address());
                s.getOutputStream().write(5); // half a greeting, then silence
                s.setSoTimeout(10_000); // only bounds a failure: the listener closes long before
                assertThat(s.getInputStream().read()).as("closed by ztunnel").isEqualTo(-1);
            } finally {
                listeners.stopAccepting();
            }
            await().until(() -> telemetry.rejections(true, "socks_timeout") == 1);
        } finally {
            vertx.close().await(10, TimeUnit.SECONDS);
        }
    }

    private static String hex(ByteBuf b) {
        try {
            return ByteBufUtil.hexDump(b);
        } finally {
            b.release();
        }
    }
}
