package io.jmesh.core.identity;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;
import org.junit.jupiter.params.provider.ValueSource;

class SpiffeIdTest {

    @ParameterizedTest(name = "{0}")
    @CsvSource({
        "spiffe://cluster.local/ns/default/sa/reviews, cluster.local, default, reviews",
        "spiffe://example.org/ns/istio-system/sa/ztunnel, example.org, istio-system, ztunnel",
        "spiffe://td/ns/a/sa/b.c-d, td, a, b.c-d",
    })
    void parsesIstioShape(String uri, String td, String ns, String sa) {
        SpiffeId id = SpiffeId.parse(uri);
        assertThat(id).isEqualTo(SpiffeId.of(td, ns, sa));
        assertThat(id.uri()).isEqualTo(uri);
        assertThat(id.principal()).isEqualTo(uri.substring("spiffe://".length()));
    }

    @ParameterizedTest(name = "rejects {0}")
    @ValueSource(strings = {
        "http://cluster.local/ns/default/sa/x",
        "spiffe://cluster.local/ns/default",
        "spiffe://cluster.local/ns/default/sa/x/extra",
        "spiffe://cluster.local/sa/x/ns/default",
        "spiffe:///ns/default/sa/x",
        "spiffe://cluster.local/ns//sa/x",
        "spiffe://cluster.local/ns/Default/sa/x",
        "spiffe://CLUSTER.local/ns/default/sa/x",
        "spiffe://cluster.local/ns/default/sa/",
        "spiffe://cluster.local/ns/de fault/sa/x",
    })
    void rejectsAnythingElseWithAReason(String uri) {
        assertThatThrownBy(() -> SpiffeId.parse(uri))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("expected");
        assertThat(SpiffeId.tryParse(uri)).isNull();
    }
}
