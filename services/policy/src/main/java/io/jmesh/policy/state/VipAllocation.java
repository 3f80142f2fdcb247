package io.jmesh.policy.state;

import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.proto.config.v1.ConfigRecord;
import io.jmesh.proto.config.v1.ServiceEntrySpec;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * VIPs for the ServiceEntry hosts that have none, as Istio's IP auto-allocation gives them (in its ranges,
 * {@code 240.240.0.0/16} and {@code 2001:2::/48}), so ztunnel's DNS proxy can answer such a host with an address
 * ztunnel routes, and a client's connection to it is that entry's service: an external API reached by name through
 * a waypoint, counted under its host. A host gets one when its entry's resolution is not {@code NONE}, it is no
 * wildcard, the entry has no {@code addresses} of its own, Istio has recorded none in the entry's status (istiod's
 * allocation, when there is one, wins), and the entry does not opt out ({@value #OPT_OUT}: "false").
 *
 * <p>Every replica computes the same VIPs from the same entries (the cluster's entries then keep theirs in their
 * status: {@code kubernetes.VipStatusWriter}). Each host hashes
 * ({@code namespace/host}, FNV-1a) to one of 65,024 slots, a collision moving on by a second hash (double hashing,
 * as istiod's allocator did before it kept its choices in the status); hosts are placed oldest entry first (then by
 * namespace, name, host), so a new entry never moves an older one's VIP (among entries without a creation time,
 * those of manifest files, name order decides). Slot {@code s} is
 * {@code 240.240.(s / 254).(s % 254 + 1)} and {@code 2001:2::f0f0:<the same two octets>}: no {@code .0} or
 * {@code .255}. Until recorded, a VIP can move: deleting an entry can move a younger one that collided with it.
 */
final class VipAllocation {

    /** Istio's annotation: "false" keeps an entry's hosts without allocated VIPs. */
    static final String OPT_OUT = "networking.istio.io/enable-autoallocate-ip";
    static final int SLOTS = 256 * 254;
    private static final int PRIME = 65011; // the largest prime below SLOTS: steps of the second hash

    /** The order hosts are placed in, and among two entries naming one host the one whose VIP it is. */
    private static final Comparator<ConfigRecord> OLDEST_FIRST = ConfigAge.OLDEST_FIRST;

    private VipAllocation() {}

    /** {@code namespace/host} → its VIPs (IPv4, IPv6) for every host that gets some. */
    static Map<String, List<String>> allocate(List<ConfigRecord> entries, Consumer<MeshState.Skipped> onFull) {
        List<ConfigRecord> ordered = new ArrayList<>(entries);
        ordered.sort(OLDEST_FIRST);
        Map<String, List<String>> out = new HashMap<>();
        boolean[] taken = new boolean[SLOTS];
        int used = 0;
        // the range's addresses entries already hold (their own, or Istio's allocation in their status) are nobody
        // else's: a VIP held twice would route one service's connections to the other
        for (ConfigRecord r : ordered) {
            ServiceEntrySpec spec = r.getServiceEntry();
            List<String> held = new ArrayList<>(spec.getAddressesList());
            spec.getAllocatedAddressesList().forEach(a -> held.add(a.getValue()));
            for (String a : held) {
                int slot = slotOf(a);
                if (slot >= 0 && !taken[slot]) {
                    taken[slot] = true;
                    used++;
                }
            }
        }
        for (ConfigRecord r : ordered) {
            for (String host : wanting(r)) {
                String key = r.getMetadata().getNamespace() + "/" + host;
                if (out.containsKey(key)) {
                    continue; // a host two entries of a namespace name: the service is one
                }
                if (used == SLOTS) {
                    onFull.accept(new MeshState.Skipped(ConfigKey.of(r).toString(), "no VIP left for host '" + host
                            + "': all " + SLOTS + " of 240.240.0.0/16 are allocated"));
                    continue;
                }
                int slot = slot(key, taken);
                taken[slot] = true;
                used++;
                out.put(key, vips(slot));
            }
        }
        return out;
    }

    /**
     * {@code allocated} per entry, oldest entry first: a host two entries of a namespace name is the older one's (the
     * one {@link #allocate} placed). An entry whose status still has addresses for hosts it no longer names is
     * listed too, with those hosts: recorded addresses are held, so they would otherwise be lost for good.
     */
    static List<MeshState.AllocatedVips> byEntry(List<ConfigRecord> entries, Map<String, List<String>> allocated) {
        List<ConfigRecord> ordered = new ArrayList<>(entries);
        ordered.sort(OLDEST_FIRST);
        Set<String> placed = new HashSet<>();
        List<MeshState.AllocatedVips> out = new ArrayList<>();
        for (ConfigRecord r : ordered) {
            Map<String, List<String>> byHost = new TreeMap<>();
            for (String host : wanting(r)) {
                String key = r.getMetadata().getNamespace() + "/" + host;
                List<String> vips = allocated.get(key);
                if (vips != null && placed.add(key)) {
                    byHost.put(host, vips);
                }
            }
            Set<String> stale = new TreeSet<>();
            r.getServiceEntry().getAllocatedAddressesList().forEach(a -> {
                if (!r.getServiceEntry().getHostsList().contains(a.getHost())) {
                    stale.add(a.getHost());
                }
            });
            if (!byHost.isEmpty() || !stale.isEmpty()) {
                out.add(new MeshState.AllocatedVips(ConfigKey.of(r), r.getSource(), byHost, Set.copyOf(stale)));
            }
        }
        return out;
    }

    /** The hosts of {@code r} that get VIPs from this allocation. */
    static List<String> wanting(ConfigRecord r) {
        ServiceEntrySpec spec = r.getServiceEntry();
        if (spec.getResolution() == ServiceEntrySpec.Resolution.NONE || spec.getAddressesCount() > 0
                || "false".equalsIgnoreCase(r.getMetadata().getAnnotationsMap().get(OPT_OUT))) {
            return List.of();
        }
        Set<String> allocatedByIstio = new HashSet<>();
        spec.getAllocatedAddressesList().forEach(a -> allocatedByIstio.add(a.getHost()));
        return spec.getHostsList().stream().filter(h -> !h.startsWith("*.") && !allocatedByIstio.contains(h)).toList();
    }

    private static int slot(String key, boolean[] taken) {
        long h = fnv1a(key);
        int slot = (int) (h % SLOTS);
        long step = PRIME - (h % PRIME);
        while (gcd(step, SLOTS) != 1) {
            step++; // coprime with SLOTS (2^9 * 127), so the probe visits every slot: it ends once one is free
        }
        while (taken[slot]) {
            slot = (int) ((slot + step) % SLOTS);
        }
        return slot;
    }

    /** The slot {@code address} is in our range ({@code 240.240.x.y}, {@code 2001:2::f0f0:xxyy}), or -1. */
    static int slotOf(String address) {
        java.net.InetAddress ip = io.jmesh.core.net.IpLiteral.parse(address);
        byte[] b = ip == null ? new byte[0] : ip.getAddress();
        int third;
        int fourth;
        if (b.length == 4 && (b[0] & 0xff) == 240 && (b[1] & 0xff) == 240) {
            third = b[2] & 0xff;
            fourth = b[3] & 0xff;
        } else if (b.length == 16 && java.util.Arrays.equals(java.util.Arrays.copyOf(b, 12), V6_PREFIX)
                && (b[12] & 0xff) == 0xf0 && (b[13] & 0xff) == 0xf0) {
            third = b[14] & 0xff;
            fourth = b[15] & 0xff;
        } else {
            return -1;
        }
        return fourth >= 1 && fourth <= 254 ? third * 254 + fourth - 1 : -1;
    }

    private static final byte[] V6_PREFIX = {0x20, 0x01, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, 0};

    private static long gcd(long a, long b) {
        return b == 0 ? a : gcd(b, a % b);
    }

    static List<String> vips(int slot) {
        int third = slot / 254;
        int fourth = slot % 254 + 1;
        return List.of("240.240." + third + "." + fourth,
                "2001:2::f0f0:" + Integer.toHexString(third << 8 | fourth));
    }

    private static long fnv1a(String s) {
        long h = 0x811c9dc5L;
        for (byte b : s.getBytes(StandardCharsets.UTF_8)) {
            h ^= b & 0xff;
            h = (h * 0x01000193L) & 0xffffffffL;
        }
        return h;
    }
}
