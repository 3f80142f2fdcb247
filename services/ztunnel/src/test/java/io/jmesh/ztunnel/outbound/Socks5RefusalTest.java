package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.buffer.Unpooled;
import io.netty.channel.embedded.EmbeddedChannel;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.net.InetSocketAddress;
import java.net.SocketAddress;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A refused SOCKS5 client is refused once, whatever else it sends in the same breath. Found by {@link Socks5Fuzz}:
 * bytes after a refused command (BIND, or a CONNECT from outside the node) were handed back to the finished command
 * decoder, which passed them on again, until the event loop's stack overflowed; the overflow struck inside the
 * metrics' shared scheduler and broke it, so a later client got no answer at all.
 */
class Socks5RefusalTest {

    final ConnectionTelemetry telemetry = new ConnectionTelemetry(new PrometheusRegistry(), null, false, "n");

    /** A channel with the SOCKS5 handlers, from a TCP-looking client address (the handler logs it). */
    EmbeddedChannel socks() {
        return socks(null); // a refused greeting or command never reaches the proxy
    }

    EmbeddedChannel socks(OutboundProxy proxy) {
        EmbeddedChannel ch = new EmbeddedChannel() {
            @Override
            protected SocketAddress remoteAddress0() {
                return new InetSocketAddress("127.0.0.1", 40000);
            }
        };
        Socks5Handler.install(ch, proxy, telemetry, Duration.ofSeconds(10));
        return ch;
    }

    @Test
    void bytesAfterARefusedCommandAreDroppedNotDecodedAgain() {
        EmbeddedChannel ch = socks();
        // the fuzzer's input, minimized: greeting (no auth), BIND 127.0.150.11:1, one more byte
        ch.writeInbound(Unpooled.wrappedBuffer(HexFormat.of().parseHex("050100" + "05020001" + "7f00960b0001" + "ff")));
        assertThat(hex(ch.readOutbound())).isEqualTo("0500");
        assertThat(hex(ch.readOutbound())).as("COMMAND_UNSUPPORTED").isEqualTo("05070001000000000000");
        assertThat(ch.isOpen()).isFalse();
        assertThat(telemetry.rejections(true, "socks_command")).isEqualTo(1);
        assertThat(telemetry.rejections(true, "socks_malformed")).as("no 'socks5 error' (the stack overflow)").isZero();
        assertThat(ch.finishAndReleaseAll()).isFalse();
    }

    @Test
    void aConnectFromOutsideTheNodeWithDataBehindItIsRefusedOnce() throws Exception {
        ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of()).config();
        EmbeddedChannel ch = socks(new OutboundProxy(config, new WorkloadStore(), null, null, telemetry, null));
        ch.writeInbound(Unpooled.wrappedBuffer(HexFormat.of().parseHex("050100" + "05010001" + "7f00960b0050"
                + "474554202f20485454502f312e310d0a0d0a")));
        assertThat(hex(ch.readOutbound())).isEqualTo("0500");
        assertThat(hex(ch.readOutbound())).as("FORBIDDEN").isEqualTo("05020001000000000000");
        assertThat(ch.isOpen()).isFalse();
        assertThat(telemetry.rejections(true, "unknown_source")).isEqualTo(1);
        assertThat(telemetry.rejections(true, "socks_malformed")).isZero();
        ch.finishAndReleaseAll();
    }

    @Test
    void aRefusedGreetingIsCountedOnceEvenWithARequestBehindIt() {
        EmbeddedChannel ch = socks();
        // username/password only, then a CONNECT that must not be read
        ch.writeInbound(Unpooled.wrappedBuffer(HexFormat.of().parseHex("050102" + "05010001" + "7f00960b0001")));
        assertThat(hex(ch.readOutbound())).as("no acceptable method").isEqualTo("05ff");
        assertThat(ch.isOpen()).isFalse();
        assertThat(telemetry.rejections(true, "socks_auth")).isEqualTo(1);
        assertThat(telemetry.rejections(true, "socks_malformed")).isZero();
        ch.finishAndReleaseAll();
    }

    private static String hex(ByteBuf b) {
        try {
            return ByteBufUtil.hexDump(b);
        } finally {
            b.release();
        }
    }
}
