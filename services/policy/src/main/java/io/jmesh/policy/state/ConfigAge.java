package io.jmesh.policy.state;

import io.jmesh.proto.config.v1.ConfigRecord;
import java.util.Comparator;

/**
 * The order of objects by age, where the older one wins as in istiod: oldest {@code metadata.creationTimestamp} first
 * (all of it: the API server stamps whole seconds, a manifest may carry a fraction, which Go's {@code time.Before}
 * compares too), then namespace, then name, so that every replica picks the same of objects created in one second.
 * Competing PeerAuthentications share a namespace, so name decides among them, as istiod's
 * {@code sortConfigByCreationTime} orders ties (name, then namespace); its ambient builder keeps the first its informer
 * lists, in no set order. Objects without a creation time (those of manifest files) count as the oldest, among
 * themselves in name order.
 */
final class ConfigAge {

    static final Comparator<ConfigRecord> OLDEST_FIRST = Comparator
            .comparingLong((ConfigRecord r) -> r.getMetadata().getCreationTimestamp().getSeconds())
            .thenComparingInt(r -> r.getMetadata().getCreationTimestamp().getNanos())
            .thenComparing(r -> r.getMetadata().getNamespace()).thenComparing(r -> r.getMetadata().getName());

    private ConfigAge() {}

    /** The older of {@code a} and {@code b} (either may be null). */
    static ConfigRecord older(ConfigRecord a, ConfigRecord b) {
        if (a == null) {
            return b;
        }
        return b == null || OLDEST_FIRST.compare(a, b) <= 0 ? a : b;
    }
}
