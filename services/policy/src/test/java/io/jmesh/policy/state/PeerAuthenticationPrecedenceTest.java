package io.jmesh.policy.state;

import static io.jmesh.policy.state.MeshStateBuilderTest.BASE;
import static io.jmesh.policy.state.MeshStateBuilderTest.build;
import static io.jmesh.policy.state.MeshStateBuilderTest.workload;
import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.policy.resource.ManifestReader;
import org.junit.jupiter.api.Test;

/**
 * Which PeerAuthentication decides when several compete, as istiod decides (ambient's
 * {@code convertedSelectorPeerAuthentications}, the sidecar model's {@code sortConfigByCreationTime}): the oldest by
 * {@code metadata.creationTimestamp}, then the first by name; and a selector in the root namespace selects nothing.
 */
class PeerAuthenticationPrecedenceTest {

    static final String STRICT = "istio-system/istio_converted_static_strict";

    final ManifestReader reader = new ManifestReader("istio-system");
    final MeshStateBuilder builder = new MeshStateBuilder(MeshStateBuilderTest.SETTINGS);

    MeshState state(String... manifests) {
        return build(reader, builder, s -> { }, manifests);
    }

    static String peerAuthentication(String ns, String name, String created, String selector, String mode) {
        return "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                + "metadata: {name: " + name + ", namespace: " + ns
                + (created == null ? "" : ", creationTimestamp: \"" + created + "\"") + "}\n"
                + "spec: {" + (selector == null ? "" : "selector: {matchLabels: {" + selector + "}}, ")
                + "mtls: {mode: " + mode + "}}\n";
    }

    @Test
    void ofTwoSelectorPoliciesTheOldestDecidesNotTheFirstByName() throws Exception {
        MeshState s = state(BASE,
                peerAuthentication("shop", "a-db-open", "2026-03-01T00:00:00Z", "app: db", "PERMISSIVE"), "---\n"
                + peerAuthentication("shop", "z-db-strict", "2026-01-01T00:00:00Z", "app: db", "STRICT"));
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList())
                .as("z-db-strict is older: istiod enforces it").containsExactly(STRICT);
    }

    @Test
    void ofTwoNamespaceWidePoliciesTheOldestDecides() throws Exception {
        MeshState s = state(BASE,
                peerAuthentication("shop", "a-open", "2026-03-01T00:00:00Z", null, "PERMISSIVE"), "---\n"
                + peerAuthentication("shop", "b-strict", "2026-01-01T00:00:00Z", null, "STRICT"));
        assertThat(workload(s, "reviews-1").getAuthorizationPoliciesList()).containsExactly(STRICT);
    }

    @Test
    void ofTwoMeshWidePoliciesTheOldestDecides() throws Exception {
        MeshState s = state(BASE,
                peerAuthentication("istio-system", "a-open", "2026-03-01T00:00:00Z", null, "PERMISSIVE"), "---\n"
                + peerAuthentication("istio-system", "b-strict", "2026-01-01T00:00:00Z", null, "STRICT"));
        assertThat(workload(s, "reviews-1").getAuthorizationPoliciesList()).containsExactly(STRICT);
    }

    @Test
    void policiesOfTheSameAgeAreOrderedByName() throws Exception {
        // the API server stamps whole seconds: equal times are common, and every replica must pick the same one
        MeshState s = state(BASE,
                peerAuthentication("shop", "b-db-open", "2026-01-01T00:00:00Z", "app: db", "PERMISSIVE"), "---\n"
                + peerAuthentication("shop", "a-db-strict", "2026-01-01T00:00:00Z", "app: db", "STRICT"), "---\n"
                + peerAuthentication("shop", "b-open", null, null, "PERMISSIVE"), "---\n"
                + peerAuthentication("shop", "a-strict", null, null, "STRICT"));
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList()).containsExactly(STRICT);
        assertThat(workload(s, "reviews-1").getAuthorizationPoliciesList()).containsExactly(STRICT);
    }

    @Test
    void aFractionOfASecondInTheCreationTimeCountsAsInIstiod() throws Exception {
        // the API server stamps whole seconds; a manifest may carry more, and Go's time.Before compares it all
        MeshState s = state(BASE,
                peerAuthentication("shop", "a-db-open", "2026-01-01T00:00:00.5Z", "app: db", "PERMISSIVE"), "---\n"
                + peerAuthentication("shop", "z-db-strict", "2026-01-01T00:00:00.25Z", "app: db", "STRICT"));
        assertThat(workload(s, "db-1").getAuthorizationPoliciesList())
                .as("z-db-strict is older by a quarter of a second").containsExactly(STRICT);
    }

    @Test
    void aNewerPolicyTakesOverWhenTheOlderIsDeleted() throws Exception {
        String older = peerAuthentication("shop", "z-db-strict", "2026-01-01T00:00:00Z", "app: db", "STRICT");
        String newer = peerAuthentication("shop", "a-db-open", "2026-03-01T00:00:00Z", "app: db", "PERMISSIVE");
        assertThat(workload(state(BASE, older, "---\n" + newer), "db-1").getAuthorizationPoliciesList())
                .containsExactly(STRICT);
        assertThat(workload(state(BASE, newer), "db-1").getAuthorizationPoliciesList()).isEmpty();
    }

    @Test
    void aSelectorInTheRootNamespaceDoesNotLoosenItsOwnWorkloads() throws Exception {
        // istiod takes a selector policy only outside the root namespace ("Workload-level policy, aka the one with
        // selector and not in root namespace"): there it selects nothing, not even the root namespace's workloads
        MeshState s = state(BASE, """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: gw-1, namespace: istio-system}
                spec: {address: 127.0.10.9, labels: {app: gw}, node: node-a}
                ---
                """, peerAuthentication("istio-system", "default", null, null, "STRICT"), "---\n"
                + peerAuthentication("istio-system", "gw-open", null, "app: gw", "PERMISSIVE"));
        assertThat(MeshStateBuilderTest.workloadWithUid(s,
                "Kubernetes/networking.istio.io/WorkloadEntry/istio-system/gw-1").getAuthorizationPoliciesList())
                .as("the mesh-wide STRICT policy holds").containsExactly(STRICT);
    }

    @Test
    void aRootPolicyWithAnEmptySelectorIsTheMeshsOnlyForTheRootNamespace() throws Exception {
        // istiod fetches a root-namespace policy for another namespace's workload only when it has no selector at
        // all; with an empty one it is a mesh-wide candidate for the root namespace's own workloads alone
        String policies = "apiVersion: security.istio.io/v1\nkind: PeerAuthentication\n"
                + "metadata: {name: a-open, namespace: istio-system, creationTimestamp: \"2026-01-01T00:00:00Z\"}\n"
                + "spec: {selector: {}, mtls: {mode: PERMISSIVE}}\n---\n"
                + peerAuthentication("istio-system", "default", "2026-02-01T00:00:00Z", null, "STRICT");
        MeshState s = state(BASE, """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: gw-1, namespace: istio-system}
                spec: {address: 127.0.10.9, labels: {app: gw}, node: node-a}
                ---
                """, policies);
        assertThat(workload(s, "reviews-1").getAuthorizationPoliciesList())
                .as("the older a-open is no candidate outside the root namespace").containsExactly(STRICT);
        assertThat(MeshStateBuilderTest.workloadWithUid(s,
                "Kubernetes/networking.istio.io/WorkloadEntry/istio-system/gw-1").getAuthorizationPoliciesList())
                .as("in the root namespace the older a-open decides, as in istiod").isEmpty();
    }
}
