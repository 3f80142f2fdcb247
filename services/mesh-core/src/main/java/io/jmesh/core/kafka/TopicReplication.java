package io.jmesh.core.kafka;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.TopicConfig;

/**
 * How many copies a topic a service creates gets, from one setting ({@code setting}, e.g.
 * {@code kafka.replicationFactor}): the configured factor, or for 0 ("automatic") min(3, brokers of the cluster), so
 * that a production cluster's topics survive a broker's loss and a single local broker still works.
 *
 * <p>Created on three replicas or more, a topic gets {@code min.insync.replicas=2}: with the producers' {@code
 * acks=all} (Kafka's recommendation for a replication factor of 3) a record Kafka acknowledges is on two brokers, not
 * possibly on the leader alone. An existing topic keeps its replicas and settings (replicas change only by a
 * partition reassignment, an operator's decision); one with fewer replicas than asked, or with 3 replicas or more and
 * {@code min.insync.replicas} below 2, is flagged ({@link Warning}) for the service to log and count.
 *
 * @param setting the configuration key the factor comes from, named in messages
 * @param factor replicas of a created topic, or 0 for min(3, brokers)
 */
public record TopicReplication(String setting, int factor) {

    /** Replicas of a topic created with factor 0 on a cluster this large or larger. */
    public static final int AUTOMATIC_REPLICAS = 3;
    /** In-sync replicas a write with {@code acks=all} needs, on a topic of {@link #AUTOMATIC_REPLICAS} or more. */
    public static final int MIN_IN_SYNC_REPLICAS = 2;

    public TopicReplication {
        if (factor < 0 || factor > Short.MAX_VALUE) {
            throw new IllegalArgumentException(setting + ": " + factor + " (expected: 1.." + Short.MAX_VALUE
                    + " replicas, or 0 = min(" + AUTOMATIC_REPLICAS + ", number of brokers))");
        }
    }

    /**
     * Something about an existing topic the service does not change itself.
     *
     * @param reason {@code replication_factor} or {@code min_insync_replicas}, a metric label
     */
    public record Warning(String reason, String message) {}

    /** Whether the replicas depend on the cluster's size, so its brokers must be counted first. */
    public boolean automatic() {
        return factor == 0;
    }

    /**
     * The replication factor to create a topic with: the configured one, or for 0 as many replicas as a 3-broker
     * cluster's operator expects, but no more than the cluster has brokers (a local single broker: 1).
     */
    public short replicas(int brokers) {
        return (short) (factor > 0 ? factor : Math.max(1, Math.min(AUTOMATIC_REPLICAS, brokers)));
    }

    /** {@link #replicas(int)} for the cluster {@code admin} talks to, counting its brokers when automatic; blocking. */
    public short replicas(Admin admin, Duration timeout)
            throws InterruptedException, ExecutionException, TimeoutException {
        return replicas(!automatic() ? 0
                : admin.describeCluster().nodes().get(timeout.toMillis(), TimeUnit.MILLISECONDS).size());
    }

    /** {@code configs} (the topic's own, e.g. its cleanup policy) plus, on 3 replicas or more, 2 in sync per write. */
    public static Map<String, String> createConfigs(short replicas, Map<String, String> configs) {
        Map<String, String> out = new HashMap<>(configs);
        if (replicas >= AUTOMATIC_REPLICAS) {
            out.put(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG, String.valueOf(MIN_IN_SYNC_REPLICAS));
        }
        return Map.copyOf(out);
    }

    /** How the factor was chosen, for an error: "kafka.replicationFactor 2", or the automatic choice's result. */
    public String describe(short replicas) {
        return factor > 0 ? setting + " " + factor
                : "replication factor " + replicas + " (" + setting + " 0: min(" + AUTOMATIC_REPLICAS + ", brokers))";
    }

    /**
     * What is wrong with an existing topic of {@code replicas} replicas (its least replicated partition) and
     * {@code minInSync} in-sync replicas per write, where this setting asks for {@code asked}.
     *
     * @param kind what the topic is, starting the message (e.g. "revocation topic")
     */
    public List<Warning> check(String kind, String topic, int replicas, short asked, int minInSync) {
        List<Warning> out = new ArrayList<>();
        if (replicas < asked) {
            out.add(new Warning("replication_factor", kind + " " + topic + " has replication factor " + replicas
                    + " where " + (factor > 0 ? setting + " asks " + asked
                            : setting + " 0 asks min(" + AUTOMATIC_REPLICAS + ", brokers) = " + asked)
                    + ": losing " + (replicas <= 1 ? "its broker" : replicas + " brokers")
                    + " loses the topic's records; an existing topic's replicas are not changed here: reassign its"
                    + " partitions (kafka-reassign-partitions)"));
        }
        if (replicas >= AUTOMATIC_REPLICAS && minInSync < MIN_IN_SYNC_REPLICAS) {
            out.add(new Warning("min_insync_replicas", kind + " " + topic + " has min.insync.replicas " + minInSync
                    + " with replication factor " + replicas + ": a record Kafka acknowledges (acks=all) may be on"
                    + " one broker only; set min.insync.replicas=" + MIN_IN_SYNC_REPLICAS + " on it (kafka-configs"
                    + " --alter --add-config), as Kafka recommends with acks=all"));
        }
        return out;
    }

    /** Replicas of the topic's least replicated partition (0 for a topic without partitions). */
    public static int replicasOf(TopicDescription topic) {
        int least = Integer.MAX_VALUE;
        for (TopicPartitionInfo p : topic.partitions()) {
            least = Math.min(least, p.replicas().size());
        }
        return least == Integer.MAX_VALUE ? 0 : least;
    }

    /** The topic's {@code min.insync.replicas}; Kafka's default, 1, when its configs do not say. */
    public static int minInSyncOf(Config topicConfig) {
        ConfigEntry e = topicConfig == null ? null : topicConfig.get(TopicConfig.MIN_IN_SYNC_REPLICAS_CONFIG);
        return e == null || e.value() == null ? 1 : Integer.parseInt(e.value());
    }
}
