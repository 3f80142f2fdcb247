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
        // an IPv4-mapped address stays IPv6, as Istio reads it: never equal to the IPv4 address dialled
        assertThat(Authority.parse("[::ffff:10.1.2.3]:80").getAddress().getHostAddress())
                .isEqualTo("0:0:0:0:0:ffff:a01:203");
    }

    @Test
    void aPortIsPlainAsciiDigits() {
        // Integer.parseInt read "+80" and "٨٠" as 80
        for (String port : new String[] {"+80", "-0", "\u0668\u0660", " 80", "80 ", "", "0x50", "8_0"}) {
            String authority = "10.0.0.1:" + port;
            assertThatThrownBy(() -> Authority.parse(authority)).as(authority)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("authority '" + authority + "': port '" + port + "' is not a number");
        }
        assertThatThrownBy(() -> Authority.parse("[::1]:+80"))
                .hasMessage("authority '[::1]:+80': port '+80' is not a number");
        for (String port : new String[] {"0", "00", "65536", "99999999999999999999"}) {
            String authority = "10.0.0.1:" + port;
            assertThatThrownBy(() -> Authority.parse(authority)).as(authority)
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessage("authority '" + authority + "': port " + port + " (expected: 1..65535)");
        }
        assertThat(Authority.parse("10.0.0.1:080").getPort()).isEqualTo(80);
        assertThat(Authority.parse("10.0.0.1:65535").getPort()).isEqualTo(65_535);
    }

    @Test
    void anOctetWithALeadingZeroIsNoAddress() {
        for (String authority : new String[] {"010.0.0.1:80", "[::ffff:010.0.0.1]:80"}) {
            assertThatThrownBy(() -> Authority.parse(authority)).as(authority)
                    .hasMessageContaining("host is not an IP address");
        }
    }

    @Test
    void aServiceHostnameIsATargetToLookUpButNeverResolved() {
        Authority.Target t = Authority.parseTarget("Echo.Default.svc.cluster.local:80");
        assertThat(t.ip()).isNull();
        assertThat(t.hostname()).isEqualTo("echo.default.svc.cluster.local");
        assertThat(t.port()).isEqualTo(80);
        assertThat(Authority.parseTarget("10.0.0.1:80").hostname()).isNull();
        for (String authority : new String[] {"-echo.default:80", "echo-.default:80", "echo..default:80",
            "echo.default.:80", "ec_ho.default:80", "93.18:80", "[echo.default]:80", "x".repeat(64) + ".a:80",
            "echo default:80"}) {
            assertThatThrownBy(() -> Authority.parseTarget(authority)).as(authority)
                    .hasMessageContaining("host is not an IP address, nor a hostname");
        }
        // parse() stays IP-only for callers that need an address
        assertThatThrownBy(() -> Authority.parse("echo.default.svc.cluster.local:80"))
                .hasMessageContaining("host is not an IP address");
    }
}
