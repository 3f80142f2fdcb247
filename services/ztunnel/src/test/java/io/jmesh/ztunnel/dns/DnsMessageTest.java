package io.jmesh.ztunnel.dns;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.buffer.Unpooled;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The proxy's own answers stay within what the transport can carry: 512 bytes over UDP, 65,535 over TCP; an
 * upstream answer is judged final or not as Istio's forwarder judges it.
 */
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

    @Test
    void anUpstreamAnswerIsMovedOnFromAsHickorysNameServerPoolDoes() {
        byte[] a = {(byte) 0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, (byte) 192, 0, 2, 7};
        byte[] cname = {(byte) 0xC0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, (byte) 0xC0, 12};
        byte[] soa = {3, 'o', 'r', 'g', 0, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0, 0, 0, 0, 1, 0, 0, 0, 60, 0, 0, 0, 60,
            0, 0, 0, 60, 0, 0, 0, 60};
        byte[] ns = {(byte) 0xC0, 12, 0, 2, 0, 1, 0, 0, 0, 60, 0, 2, (byte) 0xC0, 12};
        // OPT: root, type 41, payload 1232, extended RCODE byte, version 0, flags 0, no data
        byte[] badCookie = {0, 0, 41, 0x04, (byte) 0xD0, 1, 0, 0, 0, 0, 0}; // 23 = 1 << 4 | 7
        assertThat(reason(0, 0, new byte[0][], new byte[0][], new byte[0][])).isEqualTo("nodata");
        assertThat(reason(0, 0, new byte[][] {a}, new byte[0][], new byte[0][])).isNull();
        assertThat(reason(3, 0, new byte[0][], new byte[0][], new byte[0][])).isEqualTo("nxdomain");
        assertThat(reason(3, 0, new byte[][] {cname}, new byte[0][], new byte[0][])).as("NXDOMAIN after a CNAME")
                .isNull();
        assertThat(reason(3, 0, new byte[0][], new byte[][] {soa}, new byte[0][])).as("the zone's SOA").isNull();
        assertThat(reason(0, 0, new byte[0][], new byte[][] {ns}, new byte[0][])).as("a referral").isNull();
        assertThat(reason(2, 0, new byte[0][], new byte[0][], new byte[0][])).isEqualTo("servfail");
        assertThat(reason(2, 0, new byte[0][], new byte[][] {soa}, new byte[0][])).as("SERVFAIL with the SOA")
                .isNull();
        assertThat(reason(5, 0, new byte[0][], new byte[0][], new byte[0][])).isEqualTo("refused");
        assertThat(reason(4, 0, new byte[0][], new byte[0][], new byte[0][])).as("NOTIMP").isEqualTo("rcode");
        assertThat(reason(7, 0, new byte[0][], new byte[0][], new byte[][] {badCookie})).as("BADCOOKIE")
                .isEqualTo("rcode");
        assertThat(reason(12, 0, new byte[0][], new byte[0][], new byte[0][])).as("an unassigned RCODE").isNull();
        assertThat(reason(0, 0x02, new byte[0][], new byte[0][], new byte[0][])).as("truncated").isNull();
        assertThat(reason(3, 0, new byte[0][], new byte[][] {Arrays.copyOf(soa, 20)}, new byte[0][]))
                .as("an SOA cut short: unreadable, relayed as it is").isNull();
    }

    @Test
    void onlyAnNxdomainWithTheZonesWordIsMarkedAuthoritative() {
        byte[] soa = {3, 'o', 'r', 'g', 0, 0, 6, 0, 1, 0, 0, 0, 60, 0, 22, 0, 0, 0, 0, 0, 1, 0, 0, 0, 60, 0, 0, 0, 60,
            0, 0, 0, 60, 0, 0, 0, 60};
        assertThat(marked(3, 0, soa)).as("NXDOMAIN with the SOA").isTrue();
        assertThat(marked(3, 0, null)).as("NXDOMAIN without").isFalse();
        assertThat(marked(3, 0x02, soa)).as("truncated").isFalse();
        assertThat(marked(0, 0, soa)).as("NODATA with the SOA: Netty takes it as final already").isFalse();
        assertThat(marked(2, 0, soa)).as("SERVFAIL").isFalse();
    }

    /** Whether an answer to {@code example.org A} with {@code rcode}, {@code flags} and that authority gets AA. */
    private static boolean marked(int rcode, int flags, byte[] authority) {
        byte[] q = DnsProxyTest.query(8, "example.org", 1);
        ByteBuf msg = Unpooled.buffer();
        msg.writeBytes(q);
        msg.setByte(2, 0x80 | flags | 0x01);
        msg.setByte(3, 0x80 | rcode);
        if (authority != null) {
            msg.setShort(8, 1);
            msg.writeBytes(authority);
        }
        try {
            boolean marked = DnsMessage.markFinalNxdomain(msg);
            assertThat((msg.getByte(2) & 0x04) != 0).as("the AA bit as reported").isEqualTo(marked);
            return marked;
        } finally {
            msg.release();
        }
    }

    /** The reason of an answer to {@code example.org A} with {@code rcode}, {@code flags} and these records. */
    private static String reason(int rcode, int flags, byte[][] answers, byte[][] authority, byte[][] additional) {
        byte[] q = DnsProxyTest.query(7, "example.org", 1);
        ByteBuf msg = Unpooled.buffer();
        msg.writeBytes(q);
        msg.setByte(2, 0x80 | flags | 0x01);
        msg.setByte(3, 0x80 | rcode);
        msg.setShort(6, answers.length);
        msg.setShort(8, authority.length);
        msg.setShort(10, additional.length);
        for (byte[][] section : new byte[][][] {answers, authority, additional}) {
            for (byte[] record : section) {
                msg.writeBytes(record);
            }
        }
        try {
            return DnsMessage.retryReason(msg, q.length);
        } finally {
            msg.release();
        }
    }

    private static String label(int length) {
        return "a".repeat(length);
    }
}
