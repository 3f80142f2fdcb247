package io.jmesh.ztunnel.dns;

import io.netty.channel.Channel;
import io.netty.channel.ChannelFactory;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.socket.DatagramPacket;

/**
 * Makes Netty's resolver (behind on-demand hostnames) stop where Istio's stops: Netty takes an NXDOMAIN as final
 * only when it is authoritative (AA) and otherwise asks the next server (or the same one again when it is the only
 * one), where hickory's name server pool (Istio's) takes the zone's word, an NXDOMAIN with an SOA or NS in its
 * authority section, as final whatever its AA bit, and so an NXDOMAIN with records (a CNAME chain ending nowhere).
 * A recursive resolver relays the zone's NXDOMAIN with its SOA and AA clear, so without this a name one server
 * denies was asked again, and taken from another server that knew it. Sits first on the resolver's UDP sockets and
 * sets AA on such an answer before Netty's decoder reads it; nothing else is touched.
 */
@ChannelHandler.Sharable
public final class ZoneNegativeAnswers extends ChannelInboundHandlerAdapter {

    private static final ZoneNegativeAnswers INSTANCE = new ZoneNegativeAnswers();

    private ZoneNegativeAnswers() {}

    /** {@code channels} with this handler first in each new channel's pipeline. */
    public static <C extends Channel> ChannelFactory<C> on(ChannelFactory<C> channels) {
        return () -> {
            C ch = channels.newChannel();
            ch.pipeline().addFirst(INSTANCE);
            return ch;
        };
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (msg instanceof DatagramPacket packet) {
            DnsMessage.markFinalNxdomain(packet.content());
        }
        ctx.fireChannelRead(msg);
    }
}
