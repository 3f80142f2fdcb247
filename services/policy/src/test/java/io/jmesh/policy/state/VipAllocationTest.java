package io.jmesh.policy.state;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Timestamp;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.ServiceEntrySpec;
import io.jmesh.proto.config.v1.ServiceEntrySpec.Resolution;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.junit.jupiter.api.Test;

class VipAllocationTest {

    static ConfigRecord entry(String ns, String name, long created, Resolution resolution, String... hosts) {
        return ConfigRecord.newBuilder().setKind("ServiceEntry")
                .setMetadata(ObjectMeta.newBuilder().setNamespace(ns).setName(name)
                        .setCreationTimestamp(Timestamp.newBuilder().setSeconds(created)))
                .setServiceEntry(ServiceEntrySpec.newBuilder().addAllHosts(List.of(hosts)).setResolution(resolution))
                .build();
    }

    static Map<String, List<String>> allocate(List<ConfigRecord> entries) {
        return VipAllocation.allocate(entries, s -> { throw new AssertionError(s); });
    }

    @Test
    void onlyHostsWithoutAnyAddressOfTheirOwnGetVips() {
        ConfigRecord dns = entry("shop", "api", 1, Resolution.DNS, "api.example", "*.cdn.example");
        ConfigRecord none = entry("shop", "legacy", 1, Resolution.NONE, "legacy.example");
        ConfigRecord own = entry("shop", "db", 1, Resolution.STATIC, "db.example").toBuilder()
                .setServiceEntry(entry("shop", "db", 1, Resolution.STATIC, "db.example").getServiceEntry().toBuilder()
                        .addAddresses("10.0.0.1")).build();
        ConfigRecord byIstio = entry("shop", "pay", 1, Resolution.DNS, "pay.example", "status.pay.example").toBuilder()
                .setServiceEntry(entry("shop", "pay", 1, Resolution.DNS, "pay.example", "status.pay.example")
                        .getServiceEntry().toBuilder().addAllocatedAddresses(ServiceEntrySpec.AllocatedAddress
                                .newBuilder().setHost("pay.example").setValue("240.240.0.1"))).build();
        ConfigRecord optOut = entry("shop", "off", 1, Resolution.DNS, "off.example").toBuilder()
                .setMetadata(entry("shop", "off", 1, Resolution.DNS, "off.example").getMetadata().toBuilder()
                        .putAnnotations(VipAllocation.OPT_OUT, "false")).build();
        assertThat(allocate(List.of(dns, none, own, byIstio, optOut)))
                .containsOnlyKeys("shop/api.example", "shop/status.pay.example");
    }

    @Test
    void eachAllocationIsOneEntrysToRecordAHostTwoEntriesNameTheOlderOnes() {
        ConfigRecord older = entry("shop", "b-api", 1, Resolution.DNS, "api.example", "docs.example").toBuilder()
                .setSource("kubernetes:Kubernetes").build();
        ConfigRecord younger = entry("shop", "a-api", 2, Resolution.DNS, "api.example", "status.example");
        ConfigRecord elsewhere = entry("other", "api", 3, Resolution.DNS, "api.example");
        List<ConfigRecord> entries = List.of(younger, elsewhere, older);
        Map<String, List<String>> allocated = allocate(entries);

        List<MeshState.AllocatedVips> byEntry = VipAllocation.byEntry(entries, allocated);
        assertThat(byEntry).extracting(a -> a.entry().toString()).as("oldest first")
                .containsExactly("ServiceEntry/shop/b-api", "ServiceEntry/shop/a-api", "ServiceEntry/other/api");
        assertThat(byEntry.get(0).source()).isEqualTo("kubernetes:Kubernetes");
        assertThat(byEntry.get(0).byHost()).containsOnlyKeys("api.example", "docs.example")
                .containsEntry("api.example", allocated.get("shop/api.example"));
        assertThat(byEntry.get(1).byHost()).as("the older entry's host is not the younger's to record")
                .containsOnlyKeys("status.example");
        assertThat(byEntry.get(2).byHost()).as("another namespace's host of the same name is its own service")
                .containsEntry("api.example", allocated.get("other/api.example"));
        assertThat(byEntry).allSatisfy(a -> assertThat(a.staleHosts()).isEmpty());

        // an entry whose status still holds an address for a host it no longer names: listed, to drop it
        ConfigRecord renamed = entry("shop", "pay", 1, Resolution.DNS, "pay.example").toBuilder()
                .setServiceEntry(entry("shop", "pay", 1, Resolution.DNS, "pay.example").getServiceEntry().toBuilder()
                        .addAllocatedAddresses(ServiceEntrySpec.AllocatedAddress.newBuilder().setHost("pay.example")
                                .setValue("240.240.0.1"))
                        .addAllocatedAddresses(ServiceEntrySpec.AllocatedAddress.newBuilder()
                                .setHost("old-pay.example").setValue("240.240.0.2"))).build();
        assertThat(VipAllocation.byEntry(List.of(renamed), allocate(List.of(renamed)))).singleElement()
                .satisfies(a -> {
                    assertThat(a.byHost()).as("its host has its VIP already").isEmpty();
                    assertThat(a.staleHosts()).containsExactly("old-pay.example");
                });
    }

    @Test
    void anAddressAnEntryAlreadyHoldsIsNeverAllocatedToAnother() {
        List<ConfigRecord> fresh = new ArrayList<>();
        for (int i = 0; i < 50; i++) {
            fresh.add(entry("shop", "e" + i, 1000, Resolution.DNS, "h" + i + ".example"));
        }
        Map<String, List<String>> alone = allocate(fresh);
        // the VIPs the fresh hosts would get, held already: by Istio's allocation and by an entry's own addresses
        List<String> held = new ArrayList<>();
        alone.values().forEach(v -> held.addAll(v));
        ServiceEntrySpec.Builder byIstio = ServiceEntrySpec.newBuilder().addHosts("istio.example")
                .setResolution(Resolution.DNS);
        for (int i = 0; i < held.size() / 2; i++) {
            byIstio.addAllocatedAddresses(ServiceEntrySpec.AllocatedAddress.newBuilder().setHost("istio.example")
                    .setValue(held.get(i)));
        }
        ConfigRecord istio = entry("other", "istio", 5000, Resolution.DNS, "istio.example").toBuilder()
                .setServiceEntry(byIstio).build();
        ConfigRecord own = entry("other", "own", 5000, Resolution.STATIC, "own.example").toBuilder()
                .setServiceEntry(ServiceEntrySpec.newBuilder().addHosts("own.example").setResolution(Resolution.STATIC)
                        .addAllAddresses(held.subList(held.size() / 2, held.size()))).build();
        List<ConfigRecord> all = new ArrayList<>(fresh);
        all.add(istio);
        all.add(own);
        Map<String, List<String>> together = allocate(all);
        assertThat(together).hasSize(50);
        together.values().forEach(v -> assertThat(v).doesNotContainAnyElementsOf(held.stream()
                .map(a -> io.jmesh.core.net.IpLiteral.parse(a).getHostAddress()).toList()));
        assertThat(VipAllocation.slotOf("240.240.1.1")).isEqualTo(254);
        assertThat(VipAllocation.slotOf("2001:2::f0f0:101")).isEqualTo(254);
        assertThat(VipAllocation.slotOf("240.240.1.255")).as("never one of ours").isEqualTo(-1);
        assertThat(VipAllocation.slotOf("10.0.0.1")).isEqualTo(-1);
    }

    @Test
    void vipsAreIstiosRangesWithoutNetworkOrBroadcastLikeOctets() {
        assertThat(VipAllocation.vips(0)).containsExactly("240.240.0.1", "2001:2::f0f0:1");
        assertThat(VipAllocation.vips(253)).containsExactly("240.240.0.254", "2001:2::f0f0:fe");
        assertThat(VipAllocation.vips(254)).containsExactly("240.240.1.1", "2001:2::f0f0:101");
        assertThat(VipAllocation.vips(VipAllocation.SLOTS - 1)).containsExactly("240.240.255.254",
                "2001:2::f0f0:fffe");
    }

    @Test
    void everyReplicaAllocatesTheSameWhateverTheOrderItReadsEntriesIn() {
        List<ConfigRecord> entries = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            entries.add(entry("ns" + (i % 7), "e" + i, 1000 + i % 13, Resolution.DNS, "h" + i + ".example"));
        }
        Map<String, List<String>> first = allocate(entries);
        assertThat(first).hasSize(300);
        assertThat(new HashSet<>(first.values())).as("no VIP twice").hasSize(300);
        for (long seed = 1; seed <= 5; seed++) {
            List<ConfigRecord> shuffled = new ArrayList<>(entries);
            Collections.shuffle(shuffled, new Random(seed));
            assertThat(allocate(shuffled)).isEqualTo(first);
        }
    }

    @Test
    void aNewerEntryNeverMovesAnOlderOnesVipEvenWhenItWouldCollide() {
        List<ConfigRecord> entries = new ArrayList<>();
        for (int i = 0; i < 2000; i++) {
            entries.add(entry("shop", "e" + i, 1000, Resolution.DNS, "h" + i + ".example"));
        }
        Map<String, List<String>> before = allocate(entries);
        // newer entries, named to sort first: among 3,000 of them some hash onto an older one's slot
        List<ConfigRecord> more = new ArrayList<>(entries);
        for (int i = 0; i < 3000; i++) {
            more.add(entry("shop", "a" + i, 2000, Resolution.DNS, "n" + i + ".example"));
        }
        Map<String, List<String>> after = allocate(more);
        before.forEach((host, vips) -> assertThat(after.get(host)).as(host).isEqualTo(vips));
        assertThat(new HashSet<>(after.values())).hasSize(5000);
    }

    @Test
    void aFullRangeIsReportedForTheHostsLeftWithoutAndNeverLoops() {
        List<ConfigRecord> entries = new ArrayList<>();
        for (int i = 0; i < VipAllocation.SLOTS + 2; i++) {
            entries.add(entry("big", "e" + i, i, Resolution.STATIC, "h" + i + ".example"));
        }
        List<MeshState.Skipped> skipped = new ArrayList<>();
        Map<String, List<String>> all = VipAllocation.allocate(entries, skipped::add);
        assertThat(all).hasSize(VipAllocation.SLOTS);
        assertThat(skipped).extracting(MeshState.Skipped::key).containsExactly("ServiceEntry/big/e65024",
                "ServiceEntry/big/e65025");
        assertThat(skipped.get(0).reason()).contains("no VIP left for host 'h65024.example'");
    }
}
