package io.jmesh.ztunnel.discovery;

import io.jmesh.core.net.IpLiteral;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link IpLiteral}, the gate in front of every {@code InetAddress.getByName} of untrusted text
 * (:authority, forwarded for=, SOCKS5 destinations, addresses in the local-mode file): only real literals pass, so
 * no name is ever resolved. Found by the fuzzers (InboundParsersFuzz, OutboundRouterFuzz, StaticConfigFileFuzz):
 * digits and dots that are no literal ("10.", "10..1.1") went to DNS, and the legacy short forms ("93.18") were
 * read as some other address.
 */
class IpLiteralOnlyTest {

    @TempDir
    Path dir;

    @Test
    void digitsAndDotsThatAreNoDottedQuadAreNotLiterals() {
        for (String name : new String[] {"10.", "10..1.1", "255.255.255.7.0.30.11", "999.1.1.1", "93.18", "1", ""}) {
            assertThat(IpLiteral.is(name)).as(name).isFalse();
        }
        for (String ip : new String[] {"127.0.30.11", "255.255.255.255", "fd00::13", "::1", "::ffff:10.1.2.3"}) {
            assertThat(IpLiteral.is(ip)).as(ip).isTrue();
        }
    }

    @Test
    void anAddressThatIsNoLiteralIsRejectedByTheFileBeforeAnyLookup() throws Exception {
        // StaticConfigFileFuzz's input, minimized
        Path f = dir.resolve("mesh.yaml");
        Files.writeString(f, "services:\n  - {name: s, namespace: ns, hostname: s.ns.svc.cluster.local,"
                + " addresses: [{address: 10..1.1}]}\n");
        assertThatThrownBy(() -> StaticConfigFile.read(f))
                .hasMessageContaining("services[0].addresses[0].address: '10..1.1' is not an IP address")
                .hasNoCause(); // refused as text, not after a failed DNS query (UnknownHostException)
    }
}
