package io.jmesh.ztunnel.tunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.embedded.EmbeddedChannel;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

class EarlyInputTest {

    /** Stands in for the relay: records what reaches the end of the pipeline after the hand-over. */
    static final class Recorder extends ChannelInboundHandlerAdapter {
        final List<String> seen = new ArrayList<>();

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            ByteBuf b = (ByteBuf) msg;
            seen.add(b.toString(StandardCharsets.UTF_8));
            b.release();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            seen.add(evt == ChannelInputShutdownEvent.INSTANCE ? "EOF" : String.valueOf(evt));
        }
    }

    @Test
    void bytesAndEofThatArriveBeforeTheRelayAreReplayedInOrder() {
        EmbeddedChannel ch = new EmbeddedChannel();
        EarlyInput early = EarlyInput.install(ch);
        // what epoll delivers on RDHUP with autoRead off: the client's bytes, then its FIN
        ch.pipeline().fireChannelRead(Unpooled.copiedBuffer("hello", StandardCharsets.UTF_8));
        ch.pipeline().fireUserEventTriggered(ChannelInputShutdownEvent.INSTANCE);
        Recorder relay = new Recorder();
        early.handOver(ch, () -> {
            ch.pipeline().addLast(relay);
            early.reads().forEach(ch.pipeline()::fireChannelRead);
            early.reads().clear();
        });
        assertThat(relay.seen).containsExactly("hello", "EOF");
        assertThat(ch.pipeline().get(EarlyInput.class)).isNull();
        ch.finishAndReleaseAll();
    }

    @Test
    void whatWasKeptIsReleasedWhenTheClientLeavesFirst() {
        EmbeddedChannel ch = new EmbeddedChannel();
        EarlyInput early = EarlyInput.install(ch);
        ByteBuf data = Unpooled.copiedBuffer("bye", StandardCharsets.UTF_8);
        ch.pipeline().fireChannelRead(data);
        ch.close();
        assertThat(data.refCnt()).isZero();
        assertThat(early.reads()).isEmpty();
    }
}
