package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetSocketAddress;
import java.net.StandardProtocolFamily;
import java.net.StandardSocketOptions;
import java.nio.ByteBuffer;
import java.nio.channels.DatagramChannel;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The ztunnel-dns scenario's stub resolver, its answer checks and the fixed-rate generator, on loopback. */
class DnsLoadsTest {

    private static final byte[] ANSWER = {(byte) 192, 0, 2, 10};

    @Test
    void theStubAnswersAnAQuestionWithItsRecordAndTheQuestionCopied() {
        byte[] q = DnsLoads.query("www.example.com");
        ByteBuffer query = ByteBuffer.wrap(q);
        query.putShort(0, (short) 0x1234);
        ByteBuffer out = ByteBuffer.allocate(512);

        assertThat(DnsLoads.answer(query, out, ANSWER)).isTrue();
        out.flip();
        assertThat(out.getShort(0)).isEqualTo((short) 0x1234);
        assertThat(out.getShort(2) & 0x800F).isEqualTo(0x8000); // a response, NOERROR
        assertThat(out.getShort(6)).isEqualTo((short) 1);
        assertThat(DnsLoads.carries(out, out.limit(), q, ANSWER)).isTrue();
        assertThat(DnsLoads.carries(out, out.limit(), q, new byte[] {127, 0, 0, 1})).isFalse();
        assertThat(DnsLoads.carries(out, out.limit(), DnsLoads.query("www.example.org"), ANSWER)).isFalse();
    }

    @Test
    void aResponseOrATruncatedQuestionIsDropped() {
        ByteBuffer out = ByteBuffer.allocate(512);
        byte[] q = DnsLoads.query("a.b");
        q[2] = (byte) 0x80; // QR
        assertThat(DnsLoads.answer(ByteBuffer.wrap(q), out, ANSWER)).isFalse();
        byte[] cut = DnsLoads.query("a.b");
        assertThat(DnsLoads.answer(ByteBuffer.wrap(cut, 0, cut.length - 1).slice(), out, ANSWER)).isFalse();
    }

    @Test
    void theGeneratorGetsEveryQueryAnsweredAtItsRate() throws Exception {
        try (DnsLoads.StubResolver stub = new DnsLoads.StubResolver("127.0.0.1", ANSWER)) {
            InetSocketAddress at = stub.address();
            DnsLoads.Result r = DnsLoads.fixedRate(at, "127.0.0.1",
                    List.of(new DnsLoads.Question("www.example.com", ANSWER),
                            new DnsLoads.Question("server", ANSWER)), 2000, Duration.ofMillis(500));

            assertThat(r.sent()).isEqualTo(1000);
            assertThat(r.answered()).isEqualTo(1000);
            assertThat(r.rcodeErrors() + r.wrong() + r.timeouts()).isZero();
            assertThat(r.latency().getTotalCount()).isEqualTo(1000);
            assertThat(r.achievedRate()).isBetween(1000.0, 2100.0);
            assertThat(stub.answered()).isEqualTo(1000);
        }
    }

    @Test
    void kernelDropsAreReadPerSocketAndPerProcess() throws Exception {
        kernelDropsAreRead(DatagramChannel.open(StandardProtocolFamily.INET));
        // the default family is a dual-stack IPv6 socket where IPv6 is available (Netty's are): listed in udp6
        kernelDropsAreRead(DatagramChannel.open());
    }

    private static void kernelDropsAreRead(DatagramChannel channel) throws Exception {
        try (DatagramChannel full = channel;
                DatagramChannel sender = DatagramChannel.open(StandardProtocolFamily.INET)) {
            full.setOption(StandardSocketOptions.SO_RCVBUF, 2048); // the kernel's minimum: a few datagrams
            full.bind(new InetSocketAddress("127.0.0.1", 0));
            InetSocketAddress at = (InetSocketAddress) full.getLocalAddress();
            long before = DnsLoads.udpDrops(ProcessHandle.current().pid());
            assertThat(DnsLoads.udpDrops(at)).isZero();

            for (int i = 0; i < 200; i++) {
                sender.send(ByteBuffer.wrap(DnsLoads.query("www.example.com")), at);
            }

            long drops = DnsLoads.udpDrops(at);
            assertThat(drops).isPositive();
            assertThat(DnsLoads.udpDrops(ProcessHandle.current().pid()) - before).isGreaterThanOrEqualTo(drops);
        }
    }

    @Test
    void aWrongRecordIsCountedAndSilenceIsATimeout() throws Exception {
        try (DnsLoads.StubResolver stub = new DnsLoads.StubResolver("127.0.0.1", ANSWER)) {
            DnsLoads.Result r = DnsLoads.fixedRate(stub.address(), "127.0.0.1",
                    List.of(new DnsLoads.Question("x.example", new byte[] {1, 2, 3, 4})), 200, Duration.ofMillis(100));
            assertThat(r.answered()).isEqualTo(20);
            assertThat(r.wrong()).isEqualTo(20);
        }
        // nobody listens here: no answers (ICMP errors are counted as wrong), every query a timeout
        try (DatagramChannel closed = DatagramChannel.open()) {
            closed.bind(new InetSocketAddress("127.0.0.1", 0));
            InetSocketAddress silent = (InetSocketAddress) closed.getLocalAddress();
            DnsLoads.Result r = DnsLoads.fixedRate(silent, "127.0.0.1",
                    List.of(new DnsLoads.Question("x.example", ANSWER)), 100, Duration.ofMillis(100));
            assertThat(r.answered()).isZero();
            assertThat(r.timeouts()).isEqualTo(10);
            assertThat(r.clientDrops()).isZero();
        }
    }
}
