package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class TraceparentTest {

    @Test
    void eachTunnelGetsAFreshW3cTraceparentWithANonZeroSpanId() {
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < 1000; i++) {
            String t = OutboundProxy.traceparent();
            assertThat(t).matches("00-[0-9a-f]{32}-[0-9a-f]{16}-00");
            assertThat(t.substring(36, 52)).isNotEqualTo("0000000000000000");
            seen.add(t);
        }
        assertThat(seen).hasSize(1000);
    }
}
