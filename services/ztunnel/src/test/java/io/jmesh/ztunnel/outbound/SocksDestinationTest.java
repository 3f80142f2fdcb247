package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A SOCKS5 destination name made of digits and dots is a name, not an address (OutboundRouterFuzz's input: "93.18"
 * was read as the legacy short form of 93.0.0.18 and passed through to it; "10." was looked up in DNS).
 */
class SocksDestinationTest {

    final OutboundRouter router = new OutboundRouter(
            ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null, Map.of()).config());

    @Test
    void digitsAndDotsThatAreNoAddressAreAnUnknownHostNotAPassthrough() {
        for (String host : new String[] {"93.18", "10.", "999.1.1.1"}) {
            Route r = router.route(WorkloadIndex.EMPTY, null, host, 443);
            assertThat(r).as(host).isInstanceOf(Route.Reject.class);
            assertThat(((Route.Reject) r).reason()).as(host).isEqualTo("unknown_host");
        }
        assertThat(router.route(WorkloadIndex.EMPTY, null, "93.184.216.34", 443)).isInstanceOf(Route.Passthrough.class);
    }
}
