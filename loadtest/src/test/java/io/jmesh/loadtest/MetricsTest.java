package io.jmesh.loadtest;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class MetricsTest {

    @Test
    void metricsAreSummedAcrossTheSeriesWhoseLabelsMatch() {
        var m = new Metrics(List.of(
                "ztunnel_certificate_fetches_total{outcome=\"success\"} 7.0",
                "ztunnel_certificate_fetches_total{outcome=\"failure\"} 2.0",
                "ztunnel_certificate_fetches_total_created{outcome=\"success\"} 1.7e9",
                "istio_tcp_sockets_open{reporter=\"source\"} 3.0",
                "istio_tcp_sockets_open{reporter=\"destination\"} 1.0",
                "ztunnel_pool_connections 4.0"));
        assertThat(m.sum("ztunnel_certificate_fetches_total", "outcome=\"success\"")).isEqualTo(7.0);
        assertThat(m.sum("ztunnel_certificate_fetches_total", "")).isEqualTo(9.0);
        assertThat(m.sum("istio_tcp_sockets_open", "")).isEqualTo(4.0);
        assertThat(m.sum("ztunnel_pool_connections", "")).isEqualTo(4.0);
        assertThat(m.sum("absent", "")).isZero();
    }
}
