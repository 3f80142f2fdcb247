package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.Http2Headers;
import org.junit.jupiter.api.Test;

/** The client address of Istio's {@code forwarded} header: IPv4, bracketed IPv6, and never a name. */
class ForwardedForTest {

    @Test
    void readsTheForAddressInEveryFormIstioSends() {
        assertThat(InboundStream.forwardedFor(h("for=\"10.10.2.13:41234\";host=server.mesh.svc.cluster.local")))
                .hasToString("/10.10.2.13");
        assertThat(InboundStream.forwardedFor(h("for=\"[fd00::13]:41234\""))).hasToString("/fd00:0:0:0:0:0:0:13");
        assertThat(InboundStream.forwardedFor(h("host=x;for=10.0.0.1:1"))).hasToString("/10.0.0.1");
    }

    @Test
    void namesGarbageAndAbsenceGiveNothing() {
        assertThat(InboundStream.forwardedFor(h("for=\"evil.example.com:80\""))).isNull();
        assertThat(InboundStream.forwardedFor(h("for=\"not an address\""))).isNull();
        assertThat(InboundStream.forwardedFor(h("host=server"))).isNull();
        assertThat(InboundStream.forwardedFor(new DefaultHttp2Headers())).isNull();
    }

    @Test
    void anUnbracketedIpv6IsReadWholeWithoutAPortOrNotAtAll() {
        // was read as "::" (the last colon taken for a port separator)
        assertThat(InboundStream.forwardedFor(h("for=::1"))).hasToString("/0:0:0:0:0:0:0:1");
        assertThat(InboundStream.forwardedFor(h("for=\"fd00::13\";proto=https"))).hasToString("/fd00:0:0:0:0:0:0:13");
        assertThat(InboundStream.forwardedFor(h("for=::ffff:10.1.2.3"))).hasToString("/10.1.2.3");
        // a port behind an unbracketed IPv6 cannot be told from its last group: nothing
        assertThat(InboundStream.forwardedFor(h("for=fd00::13:41234"))).isNull();
        assertThat(InboundStream.forwardedFor(h("for=::ffff:10.1.2.3:80"))).isNull();
        assertThat(InboundStream.forwardedFor(h("for=::1::2"))).isNull();
    }

    @Test
    void bracketsHoldIpv6AndNothingButAPortFollowsThem() {
        assertThat(InboundStream.forwardedFor(h("for=\"[::1]\""))).hasToString("/0:0:0:0:0:0:0:1");
        assertThat(InboundStream.forwardedFor(h("for=\"[fd00::13]:_hidden\""))).hasToString("/fd00:0:0:0:0:0:0:13");
        assertThat(InboundStream.forwardedFor(h("for=\"[fd00::13]x80\""))).isNull();
        assertThat(InboundStream.forwardedFor(h("for=\"[10.0.0.1]:80\""))).isNull();
        assertThat(InboundStream.forwardedFor(h("for=\"[::1\""))).isNull();
        assertThat(InboundStream.forwardedFor(h("for=10.0.0.1"))).hasToString("/10.0.0.1");
        assertThat(InboundStream.forwardedFor(h("for=010.0.0.1:80"))).isNull(); // no leading-zero octets
    }

    private static Http2Headers h(String forwarded) {
        return new DefaultHttp2Headers().add("forwarded", forwarded);
    }
}
