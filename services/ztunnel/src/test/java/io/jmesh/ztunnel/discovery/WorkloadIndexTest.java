package io.jmesh.ztunnel.discovery;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.google.protobuf.ByteString;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.NetworkMode;
import io.jmesh.proto.istio.workload.PortList;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.TunnelProtocol;
import io.jmesh.proto.istio.workload.Workload;
import java.net.InetAddress;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/** Incremental pushes ({@link WorkloadIndex#with}) index exactly what a full build of the same resources does. */
class WorkloadIndexTest {

    static Address workload(int i, int ipSuffix, int... services) {
        Workload.Builder w = Workload.newBuilder().setUid("wl-" + i).setName("wl-" + i).setNamespace("ns")
                .setNode("node-" + (i % 3))
                .addAddresses(ByteString.copyFrom(new byte[] {10, 0, (byte) (ipSuffix / 256), (byte) ipSuffix}));
        for (int s : services) {
            w.putServices("ns/svc-" + s + ".ns.svc.cluster.local", PortList.getDefaultInstance());
        }
        return Address.newBuilder().setWorkload(w).build();
    }

    /** A host-network pod: on its node's address, which it shares with the node's other host-network pods. */
    static Address hostNetworkWorkload(int i, int nodeAddressSuffix, int... services) {
        return Address.newBuilder().setWorkload(workload(i, nodeAddressSuffix, services).getWorkload().toBuilder()
                .setNetworkMode(NetworkMode.HOST_NETWORK)).build();
    }

    static Address service(int j, int vipSuffix) {
        return Address.newBuilder().setService(Service.newBuilder().setName("svc-" + j).setNamespace("ns")
                .setHostname("svc-" + j + ".ns.svc.cluster.local").addAddresses(NetworkAddress.newBuilder()
                        .setAddress(ByteString.copyFrom(new byte[] {10, 96, 0, (byte) vipSuffix})))).build();
    }

    static String name(Address a) {
        return WorkloadIndex.name(a);
    }

    /** Every lookup of {@code actual} agrees with {@code expected} for every resource either holds. */
    static void assertSameLookups(WorkloadIndex actual, WorkloadIndex expected) throws Exception {
        assertThat(actual.resources()).isEqualTo(expected.resources());
        assertThat(new HashSet<>(actual.workloads())).isEqualTo(new HashSet<>(expected.workloads()));
        assertThat(new HashSet<>(actual.services())).isEqualTo(new HashSet<>(expected.services()));
        for (Workload w : expected.workloads()) {
            assertThat(actual.workloadByUid(w.getUid())).isEqualTo(w);
            if (WorkloadIndex.byAddress(w)) {
                assertThat(actual.workloadByIp(WorkloadIndex.firstIp(w))).isEqualTo(w);
            } else {
                assertThat(actual.workloadByIp(WorkloadIndex.firstIp(w)))
                        .isEqualTo(expected.workloadByIp(WorkloadIndex.firstIp(w))).isNotEqualTo(w);
            }
        }
        for (Service s : expected.services()) {
            assertThat(actual.serviceByName(WorkloadIndex.name(s))).isEqualTo(s);
            assertThat(actual.serviceByHostname(s.getHostname())).isEqualTo(s);
            InetAddress vip = InetAddress.getByAddress(s.getAddresses(0).getAddress().toByteArray());
            assertThat(actual.serviceByVip(vip)).isEqualTo(s);
            assertThat(actual.endpoints(s)).containsExactlyInAnyOrderElementsOf(expected.endpoints(s));
            // arranged once per snapshot for its own Service object, and choosing as a fresh arrangement does
            Service own = actual.serviceByName(WorkloadIndex.name(s));
            ServiceEndpoints arranged = actual.serviceEndpoints(own);
            assertThat(actual.serviceEndpoints(own)).isSameAs(arranged);
            assertThat(arranged.service()).isSameAs(own);
            for (int seed = 0; seed < 3; seed++) {
                assertThat(arranged.chooseAny(null, new Random(seed)))
                        .isEqualTo(expected.serviceEndpoints(s).chooseAny(null, new Random(seed)));
            }
        }
        for (int n = 0; n < 3; n++) {
            assertThat(actual.workloadsOnNode("node-" + n))
                    .containsExactlyInAnyOrderElementsOf(expected.workloadsOnNode("node-" + n));
        }
    }

    @Test
    void manySmallPushesIndexWhatAFullBuildIndexes() throws Exception {
        Random random = new Random(42);
        WorkloadIndex index = WorkloadIndex.EMPTY;
        Map<String, Address> all = new HashMap<>();
        for (int push = 0; push < 200; push++) {
            Map<String, Address> upserts = new HashMap<>();
            List<String> removed = new ArrayList<>();
            for (int c = 0; c < 1 + random.nextInt(6); c++) {
                int which = random.nextInt(60);
                if (random.nextInt(4) == 0) {
                    removed.add(which < 50 ? "wl-" + which : "ns/svc-" + (which - 50) + ".ns.svc.cluster.local");
                } else if (which < 50) {
                    // each workload keeps its own address, but for the host-network ones, which share the node's;
                    // their services change
                    Address a = which < 44 ? workload(which, which, random.nextInt(10), random.nextInt(10))
                            : hostNetworkWorkload(which, 200, random.nextInt(10), random.nextInt(10));
                    upserts.put(name(a), a);
                } else {
                    Address a = service(which - 50, which - 50);
                    upserts.put(name(a), a);
                }
            }
            all.putAll(upserts);
            removed.forEach(all::remove);
            index = index.with(upserts, removed);
            assertSameLookups(index, WorkloadIndex.of(all));
        }
        assertThat(index.workloads()).isNotEmpty();
    }

    @Test
    void aWorkloadMovingToAnotherAddressIsFoundOnlyAtTheNewOne() throws Exception {
        WorkloadIndex index = WorkloadIndex.of(Map.of("wl-1", workload(1, 1, 7)));
        index = index.with(Map.of("wl-1", workload(1, 2, 8)), List.of());
        assertThat(index.workloadByIp(InetAddress.getByName("10.0.0.1"))).isNull();
        assertThat(index.workloadByIp(InetAddress.getByName("10.0.0.2")).getUid()).isEqualTo("wl-1");
        Address svc7 = service(7, 7);
        Address svc8 = service(8, 8);
        index = index.with(Map.of(name(svc7), svc7, name(svc8), svc8), List.of());
        assertThat(index.endpoints(svc7.getService())).isEmpty();
        assertThat(index.endpoints(svc8.getService())).extracting(Workload::getUid).containsExactly("wl-1");
    }

    @Test
    void whenTwoWorkloadsShareAnAddressRemovingOneLeavesTheOtherThere() throws Exception {
        InetAddress shared = InetAddress.getByName("10.0.0.5");
        WorkloadIndex index = WorkloadIndex.EMPTY.with(Map.of("wl-1", workload(1, 5)), List.of());
        index = index.with(Map.of("wl-2", workload(2, 5)), List.of());
        assertThat(index.workloadByIp(shared).getUid()).isIn("wl-1", "wl-2");
        String holder = index.workloadByIp(shared).getUid();
        String other = holder.equals("wl-1") ? "wl-2" : "wl-1";
        index = index.with(Map.of(), List.of(holder));
        assertThat(index.workloadByIp(shared).getUid()).isEqualTo(other);
        // once the collision is gone, pushes are incremental again and still exact
        index = index.with(Map.of("wl-3", workload(3, 6)), List.of(other));
        assertThat(index.workloadByIp(shared)).isNull();
        assertSameLookups(index, WorkloadIndex.of(Map.of("wl-3", workload(3, 6))));
    }

    @Test
    void ofTwoWorkloadsOnOneAddressAPodInTheMeshIsFoundWhicheverCameFirst() throws Exception {
        InetAddress shared = InetAddress.getByName("10.0.0.7");
        Address entry = Address.newBuilder().setWorkload(workload(1, 7).getWorkload().toBuilder()
                .setUid("Kubernetes/networking.istio.io/WorkloadEntry/ns/vm").setTunnelProtocol(TunnelProtocol.HBONE))
                .build();
        Address plainPod = Address.newBuilder().setWorkload(workload(2, 7).getWorkload().toBuilder()
                .setUid("Kubernetes//Pod/ns/old")).build();
        Address meshPod = Address.newBuilder().setWorkload(workload(3, 7).getWorkload().toBuilder()
                .setUid("Kubernetes//Pod/ns/new").setTunnelProtocol(TunnelProtocol.HBONE)).build();
        List<Address> all = List.of(entry, plainPod, meshPod);
        for (int first = 0; first < 3; first++) {
            WorkloadIndex index = WorkloadIndex.EMPTY;
            for (int i = 0; i < 3; i++) {
                Address a = all.get((first + i) % 3);
                index = index.with(Map.of(name(a), a), List.of());
            }
            assertThat(index.workloadByIp(shared).getUid()).isEqualTo("Kubernetes//Pod/ns/new");
            index = index.with(Map.of(), List.of("Kubernetes//Pod/ns/new"));
            assertThat(index.workloadByIp(shared).getUid()).as("a pod before a WorkloadEntry")
                    .isEqualTo("Kubernetes//Pod/ns/old");
        }
    }

    @Test
    void hostNetworkWorkloadsAreEndpointsButNoLookupByTheirNodesAddressFindsThem() throws Exception {
        InetAddress node = InetAddress.getByName("10.0.0.9");
        Address svc = service(1, 1);
        WorkloadIndex index = WorkloadIndex.of(Map.of(name(svc), svc, "wl-1", hostNetworkWorkload(1, 9, 1)));
        index = index.with(Map.of("wl-2", hostNetworkWorkload(2, 9, 1)), List.of());
        assertThat(index.workloadByIp(node)).as("the node's address is no pod's").isNull();
        assertThat(index.endpoints(svc.getService())).extracting(Workload::getUid)
                .containsExactlyInAnyOrder("wl-1", "wl-2");
        // a pod that does hold the address (a pod network reusing it) is found, and stays so as the others change
        index = index.with(Map.of("wl-3", workload(3, 9)), List.of("wl-1"));
        assertThat(index.workloadByIp(node).getUid()).isEqualTo("wl-3");
        index = index.with(Map.of("wl-1", hostNetworkWorkload(1, 9, 1)), List.of("wl-2"));
        assertThat(index.workloadByIp(node).getUid()).isEqualTo("wl-3");
        assertSameLookups(index, WorkloadIndex.of(Map.of(name(svc), svc, "wl-1", hostNetworkWorkload(1, 9, 1),
                "wl-3", workload(3, 9))));
        // a pod leaving the host network for the pod network is found at its (new) address
        index = index.with(Map.of("wl-1", workload(1, 11, 1)), List.of());
        assertThat(index.workloadByIp(InetAddress.getByName("10.0.0.11")).getUid()).isEqualTo("wl-1");
    }

    @Test
    void aNodesWorkloadsAreFoundOncePerSnapshotAndEachSnapshotAnswersForItself() {
        // wl-i runs on node-(i % 3)
        WorkloadIndex index = WorkloadIndex.of(Map.of("wl-1", workload(1, 1), "wl-3", workload(3, 3),
                "wl-4", workload(4, 4)));
        List<Workload> onNode1 = index.workloadsOnNode("node-1");
        assertThat(onNode1).extracting(Workload::getUid).containsExactlyInAnyOrder("wl-1", "wl-4");
        assertThat(index.workloadsOnNode("node-1")).as("asked again: the same answer, not another pass")
                .isSameAs(onNode1);
        assertThat(index.workloadsOnNode("node-0")).extracting(Workload::getUid).containsExactly("wl-3");
        assertThat(index.workloadsOnNode("node-1")).containsExactlyInAnyOrderElementsOf(onNode1);
        assertThat(index.workloadsOnNode("node-2")).isEmpty();
        assertThatThrownBy(() -> onNode1.add(onNode1.get(0)))
                .isInstanceOf(UnsupportedOperationException.class);

        WorkloadIndex next = index.with(Map.of("wl-7", workload(7, 7)), List.of("wl-4"));
        assertThat(next.workloadsOnNode("node-1")).extracting(Workload::getUid).containsExactlyInAnyOrder("wl-1", "wl-7");
        assertThat(index.workloadsOnNode("node-1")).extracting(Workload::getUid)
                .containsExactlyInAnyOrder("wl-1", "wl-4");
    }

    @Test
    void theSameResourcePushedAgainIsListedOnce() {
        Address wl = workload(1, 1, 7);
        Address svc = service(7, 7);
        WorkloadIndex index = WorkloadIndex.EMPTY.with(Map.of("wl-1", wl, name(svc), svc), List.of());
        index = index.with(Map.of("wl-1", wl, name(svc), svc), List.of());
        assertThat(index.endpoints(svc.getService())).containsExactly(wl.getWorkload());
        index = index.with(Map.of("wl-1", workload(1, 1, 7)), List.of());
        assertThat(index.endpoints(svc.getService())).containsExactly(wl.getWorkload());
    }

    @Test
    void anEmptyPushIsTheSameIndex() {
        WorkloadIndex index = WorkloadIndex.of(Map.of("wl-1", workload(1, 1)));
        assertThat(index.with(Map.of(), Set.of())).isSameAs(index);
    }

    @Test
    void twoNetworksMayReuseAnAddressAndEachIndexAnswersForItsNetwork() throws Exception {
        InetAddress ip = InetAddress.getByName("10.0.0.7");
        InetAddress vip = InetAddress.getByName("10.96.0.7");
        Address west = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("west").setName("west")
                .setNetwork("west").addAddresses(ByteString.copyFrom(ip.getAddress()))).build();
        Address east = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("east").setName("east")
                .setNetwork("east").addAddresses(ByteString.copyFrom(ip.getAddress()))).build();
        Address anywhere = Address.newBuilder().setWorkload(Workload.newBuilder().setUid("anywhere")
                .setName("anywhere").addAddresses(ByteString.copyFrom(new byte[] {10, 0, 0, 8}))).build();
        Address westVip = Address.newBuilder().setService(Service.newBuilder().setName("s").setNamespace("ns")
                .setHostname("s.ns.svc.cluster.local").addAddresses(NetworkAddress.newBuilder().setNetwork("west")
                        .setAddress(ByteString.copyFrom(vip.getAddress())))).build();
        Map<String, Address> all = Map.of("west", west, "east", east, "anywhere", anywhere,
                "ns/s.ns.svc.cluster.local", westVip);
        WorkloadIndex onWest = WorkloadIndex.of(all, "west");
        assertThat(onWest.workloadByIp(ip).getUid()).isEqualTo("west");
        assertThat(onWest.workloadAt("east", ip).getUid()).isEqualTo("east");
        assertThat(onWest.serviceByVip(vip).getName()).isEqualTo("s");
        // an address without network is found from every network; a named one only from its own
        assertThat(onWest.workloadByIp(InetAddress.getByName("10.0.0.8")).getUid()).isEqualTo("anywhere");
        WorkloadIndex onDefault = WorkloadIndex.of(all);
        assertThat(onDefault.workloadByIp(ip)).isNull();
        assertThat(onDefault.serviceByVip(vip)).isNull();
        assertThat(onDefault.workloadByIp(InetAddress.getByName("10.0.0.8")).getUid()).isEqualTo("anywhere");
        // no collision: an incremental push keeps both, and the network
        WorkloadIndex pushed = WorkloadIndex.of(Map.of("west", west), "east").with(Map.of("east", east), List.of());
        assertThat(pushed.network()).isEqualTo("east");
        assertThat(pushed.workloadByIp(ip).getUid()).isEqualTo("east");
        assertThat(pushed.workloadAt("west", ip).getUid()).isEqualTo("west");
        assertThat(pushed.with(Map.of(), List.of("east")).workloadByIp(ip)).isNull();
    }

    @Test
    void aPushReportsExactlyTheWorkloadsItChanged() {
        Map<String, Address> all = new HashMap<>();
        for (int i = 0; i < 20_000; i++) {
            all.put("wl-" + i, workload(i, i));
        }
        Address svc = service(1, 1);
        all.put(name(svc), svc);
        WorkloadIndex before = WorkloadIndex.of(all);
        Address moved = workload(5, 40_000);
        Address added = workload(20_000, 40_001);
        // wl-6 pushed again unchanged, a service changed, wl-7 removed
        WorkloadIndex after = before.with(Map.of("wl-5", moved, "wl-20000", added, "wl-6", all.get("wl-6"),
                name(svc), service(1, 2)), List.of("wl-7"));

        List<List<Workload>> changes = new ArrayList<>();
        after.forEachWorkloadChange(before, (was, now) -> changes.add(Arrays.asList(was, now)));
        assertThat(changes).containsExactlyInAnyOrder(
                Arrays.asList(all.get("wl-5").getWorkload(), moved.getWorkload()),
                Arrays.asList(null, added.getWorkload()),
                Arrays.asList(all.get("wl-7").getWorkload(), null));

        List<Workload> sinceEmpty = new ArrayList<>();
        before.forEachWorkloadChange(WorkloadIndex.EMPTY, (was, now) -> sinceEmpty.add(now));
        assertThat(sinceEmpty).hasSize(20_000).doesNotContainNull();
        // a full build of the same resources (state of the world) holds the same workloads: no change
        List<Workload> rebuilt = new ArrayList<>();
        WorkloadIndex.of(all).forEachWorkloadChange(before, (was, now) -> rebuilt.add(now));
        assertThat(rebuilt).isEmpty();
    }
}
