package io.jmesh.ztunnel.inbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/**
 * {@link Authority#parse} reads IP literals only: a host of digits and dots that is no dotted quad is refused as
 * text, never looked up (InboundParsersFuzz's input, which went to DNS on the event loop).
 */
class AuthorityTest {

    @Test
    void digitsAndDotsThatAreNoAddressAreRefusedWithoutALookup() {
        for (String authority : new String[] {"255.255.255.7.0.30.11:8080", "10.:80", "127.1:80"}) {
            assertThatThrownBy(() -> Authority.parse(authority)).as(authority)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageContaining("host is not an IP address");
        }
    }

    @Test
    void literalsAreRead() {
        assertThat(Authority.parse("127.0.30.11:8080")).hasToString("/127.0.30.11:8080");
        assertThat(Authority.parse("[fd00::13]:15008").getAddress().getHostAddress()).isEqualTo("fd00:0:0:0:0:0:0:13");
        assertThat(Authority.parse("[::ffff:10.1.2.3]:80").getAddress().getHostAddress()).isEqualTo("10.1.2.3");
    }
}
