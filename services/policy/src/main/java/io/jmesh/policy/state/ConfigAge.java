package io.jmesh.policy.state;

import io.jmesh.proto.config.v1.ConfigRecord;
import java.util.Comparator;

/**
 * The order of objects by age, where the older one wins as in istiod: oldest {@code metadata.creationTimestamp} first,
 * then namespace, then name (istiod's tie-break, since the API server stamps whole seconds). Objects without a creation
 * time (those of manifest files) count as the oldest, among themselves in name order.
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
