package io.jmesh.ztunnel.dns;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The proxy's own answers stay within what the transport can carry: 512 bytes over UDP, 65,535 over TCP. */
class DnsMessageTest {

    private static final ByteBufAllocator ALLOC = ByteBufAllocator.DEFAULT;

    @Test
    void aTcpAnswerNeverOutgrowsItsTwoByteLengthPrefix() throws Exception {
        // a headless service of 5,000 endpoints: 80,000 bytes of A records
        List<InetAddress> many = new ArrayList<>();
        for (int i = 0; i < 5000; i++) {
            many.add(InetAddress.getByAddress(new byte[] {10, 2, (byte) (i >> 8), (byte) i}));
        }
        ByteBuf query = Unpooled.wrappedBuffer(DnsProxyTest.query(1, "db.ns1.svc.cluster.local", 1));
        ByteBuf answer = DnsMessage.answer(ALLOC, query, DnsMessage.parse(query), null, many, 30, false);
        try {
            assertThat(answer.readableBytes()).isLessThanOrEqualTo(0xFFFF);
            assertThat(answer.getByte(2) & 0x02).as("TC").isNotZero();
            int records = answer.getUnsignedShort(6);
            assertThat(answer.readableBytes()).isEqualTo(query.readableBytes() + records * 16);
        } finally {
            answer.release();
            query.release();
        }
    }

    @Test
    void aUdpAnswerWhoseCnameDoesNotFitIsTruncatedNotOversized() throws Exception {
        // a 231-character name found through the search domain ns1.svc.cluster.local: the question (255 bytes on
        // the wire) and the CNAME to the stripped name (245 bytes) do not fit in 512 together
        String stripped = label(60) + "." + label(60) + "." + label(60) + "." + label(48);
        ByteBuf query = Unpooled.wrappedBuffer(DnsProxyTest.query(2, stripped + ".ns1.svc.cluster.local", 1));
        ByteBuf answer = DnsMessage.answer(ALLOC, query, DnsMessage.parse(query), stripped,
                List.of(InetAddress.getByName("10.96.0.9")), 30, true);
        try {
            assertThat(answer.readableBytes()).isLessThanOrEqualTo(512);
            assertThat(answer.getByte(2) & 0x02).as("TC").isNotZero();
        } finally {
            answer.release();
            query.release();
        }
    }

    private static String label(int length) {
        return "a".repeat(length);
    }
}
