package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.proto.istio.workload.Locality;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.proto.istio.workload.WorkloadType;
import org.junit.jupiter.api.Test;

class WorkloadsTest {

    static final SpiffeId CLIENT = SpiffeId.of("cluster.local", "shop", "client");

    @Test
    void baggageDescribesAWorkloadThatACrossNetworkReceiverRebuilds() {
        Workload w = Workload.newBuilder().setName("client-7d9f").setWorkloadName("client").setNamespace("shop")
                .setClusterId("west").setCanonicalName("client").setCanonicalRevision("v2")
                .setWorkloadType(WorkloadType.DEPLOYMENT)
                .setLocality(Locality.newBuilder().setRegion("eu").setZone("eu-1")).build();
        String baggage = Workloads.baggage(w);
        assertThat(baggage).isEqualTo("k8s.cluster.name=west,k8s.namespace.name=shop,k8s.deployment.name=client,"
                + "service.name=client,service.version=v2,cloud.region=eu,cloud.availability_zone=eu-1");
        Workload back = Workloads.fromBaggage(baggage, CLIENT);
        assertThat(back.getWorkloadName()).isEqualTo("client");
        assertThat(back.getNamespace()).isEqualTo("shop");
        assertThat(back.getClusterId()).isEqualTo("west");
        assertThat(back.getCanonicalName()).isEqualTo("client");
        assertThat(back.getCanonicalRevision()).isEqualTo("v2");
        assertThat(back.getLocality().getZone()).isEqualTo("eu-1");
        assertThat(back.getServiceAccount()).isEqualTo("client"); // from the verified identity only
        assertThat(Workloads.identity(back, "ignored")).isEqualTo(CLIENT);
    }

    @Test
    void aWorkloadWithoutWorkloadNameIsNamedByItsOwnName() {
        assertThat(Workloads.baggage(Workload.newBuilder().setName("echo").setWorkloadType(WorkloadType.POD).build()))
                .isEqualTo("k8s.pod.name=echo");
    }

    @Test
    void unprintableOverlongOrForeignEntriesAreIgnored() {
        Workload w = Workloads.fromBaggage("k8s.deployment.name=a b,service.name=" + "x".repeat(254)
                + ",service.version=v1,k8s.namespace.name=\u0001,something.else=1,=3,noequals,k8s.pod.name=ok", null);
        assertThat(w.getWorkloadName()).isEqualTo("ok");
        assertThat(w.getWorkloadType()).isEqualTo(WorkloadType.POD);
        assertThat(w.getCanonicalName()).isEmpty();
        assertThat(w.getCanonicalRevision()).isEqualTo("v1");
        assertThat(w.getNamespace()).isEmpty();
    }

    /** Istio's {@code parse_baggage_header}: {@code key=} sets the field to None, whatever an earlier entry said. */
    @Test
    void anEmptyValueClearsWhatAnEarlierEntrySet() {
        Workload w = Workloads.fromBaggage("k8s.cluster.name=west,k8s.namespace.name=shop,k8s.deployment.name=client,"
                + "service.name=client,service.version=v2,cloud.region=eu,cloud.availability_zone=eu-1,"
                + "k8s.cluster.name=,k8s.namespace.name=,k8s.deployment.name=,service.name=,service.version=,"
                + "cloud.region=,cloud.availability_zone=", CLIENT);
        assertThat(w.getClusterId()).as("cluster").isEmpty();
        assertThat(w.getNamespace()).as("namespace").isEmpty();
        assertThat(w.getWorkloadName()).as("workload name").isEmpty();
        assertThat(w.getName()).as("name").isEmpty();
        assertThat(w.getCanonicalName()).as("canonical name").isEmpty();
        assertThat(w.getCanonicalRevision()).as("canonical revision").isEmpty();
        assertThat(w.getLocality().getRegion()).as("region").isEmpty();
        assertThat(w.getLocality().getZone()).as("zone").isEmpty();
    }

    /**
     * Istio's derived source takes its namespace from the baggage only (its metrics say "unknown" without one); the
     * peer identity gives the principal label, never the namespace.
     */
    @Test
    void theNamespaceComesFromTheBaggageOnly() {
        assertThat(Workloads.fromBaggage("service.name=client", CLIENT).getNamespace()).isEmpty();
        assertThat(Workloads.fromBaggage(null, CLIENT).getNamespace()).isEmpty();
        assertThat(Workloads.fromBaggage("k8s.namespace.name=other", CLIENT).getNamespace()).isEqualTo("other");
    }

    /** As Istio's parser, which splits an entry at each {@code =} and keeps the second part as the value. */
    @Test
    void aValueEndsAtTheNextEqualsSign() {
        assertThat(Workloads.fromBaggage("service.name=client=v2", null).getCanonicalName()).isEqualTo("client");
    }

    /** Every entry is its own, however many come before it: none takes the rest of the header as its value. */
    @Test
    void everyEntryIsReadHoweverMany() {
        String baggage = "foreign.key=1,".repeat(63) + "k8s.namespace.name=shop,k8s.deployment.name=client";
        Workload w = Workloads.fromBaggage(baggage, null);
        assertThat(w.getNamespace()).isEqualTo("shop");
        assertThat(w.getWorkloadName()).isEqualTo("client");
    }
}
