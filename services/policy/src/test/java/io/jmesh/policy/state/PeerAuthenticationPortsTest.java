package io.jmesh.policy.state;

import static io.jmesh.policy.state.MeshStateBuilderTest.BASE;
import static io.jmesh.policy.state.MeshStateBuilderTest.authorization;
import static io.jmesh.policy.state.MeshStateBuilderTest.build;
import static io.jmesh.policy.state.MeshStateBuilderTest.workload;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.policy.resource.ManifestReader;
import org.junit.jupiter.api.Test;

/**
 * Port-level modes of a selector PeerAuthentication without a mode of its own, under a STRICT namespace or mesh, as
 * istiod's ambient index resolves them ({@code convertedSelectorPeerAuthentications}): only a PERMISSIVE port opens the
 * workload's converted policy; a DISABLE port alone leaves the workload STRICT on every port.
 */
class PeerAuthenticationPortsTest {

    static final String STRICT = "istio-system/istio_converted_static_strict";
    static final String STRICT_NAMESPACE = """
            apiVersion: security.istio.io/v1
            kind: PeerAuthentication
            metadata: {name: default, namespace: shop}
            spec: {mtls: {mode: STRICT}}
            ---
            """;

    final ManifestReader reader = new ManifestReader("istio-system");
    final MeshStateBuilder builder = new MeshStateBuilder(MeshStateBuilderTest.SETTINGS);

    MeshState state(String... manifests) {
        return build(reader, builder, s -> { }, manifests);
    }

    static String dbPorts(String ports) {
        return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata: {name: db-ports, namespace: shop}\n"
                + "spec: {selector: {matchLabels: {app: db}}, portLevelMtls: {" + ports + "}}\n";
    }

    @Test
    void aDisablePortAloneUnderAStrictNamespaceStaysStrict() throws Exception {
        MeshState s = state(BASE, STRICT_NAMESPACE, dbPorts("\"5432\": {mode: DISABLE}"));
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList())
                .as("istiod looks for a PERMISSIVE port here, and a DISABLE one is not").containsExactly(STRICT);
        assertThat(s.authorizations()).doesNotContainKey("shop/converted_peer_authentication_db-ports");
    }

    @Test
    void aPermissivePortUnderAStrictNamespaceOpensItAndADisableOneBesideIt() throws Exception {
        MeshState s = state(BASE, STRICT_NAMESPACE,
                dbPorts("\"5432\": {mode: DISABLE}, \"9100\": {mode: PERMISSIVE}, \"9200\": {mode: STRICT}"));
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList())
                .containsExactly("shop/converted_peer_authentication_db-ports");
        assertThat(authorization(s, "shop/converted_peer_authentication_db-ports").getRules(0).getClauses(0)
                .getMatches(0).getNotDestinationPortsList()).as("istiod's converted policy exempts both")
                .containsExactly(5432, 9100);
    }
}
