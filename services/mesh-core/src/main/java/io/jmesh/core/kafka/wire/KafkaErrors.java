package io.jmesh.core.kafka.wire;

/** The broker error codes the producer acts on, and which of them a retry can cure (as Kafka's client decides). */
final class KafkaErrors {

    static final short NONE = 0;
    static final short UNKNOWN_TOPIC_OR_PARTITION = 3;
    static final short LEADER_NOT_AVAILABLE = 5;
    static final short NOT_LEADER_OR_FOLLOWER = 6;
    static final short OUT_OF_ORDER_SEQUENCE_NUMBER = 45;
    static final short DUPLICATE_SEQUENCE_NUMBER = 46;
    static final short INVALID_PRODUCER_EPOCH = 47;
    static final short UNKNOWN_PRODUCER_ID = 59;

    private KafkaErrors() {
    }

    /** Errors Kafka's client retries (its {@code RetriableException}s that a producer meets). */
    static boolean retriable(short code) {
        switch (code) {
            case 2: // CORRUPT_MESSAGE: damaged on the way
            case UNKNOWN_TOPIC_OR_PARTITION:
            case LEADER_NOT_AVAILABLE:
            case NOT_LEADER_OR_FOLLOWER:
            case 7: // REQUEST_TIMED_OUT
            case 13: // NETWORK_EXCEPTION
            case 14: // COORDINATOR_LOAD_IN_PROGRESS
            case 15: // COORDINATOR_NOT_AVAILABLE
            case 16: // NOT_COORDINATOR
            case 19: // NOT_ENOUGH_REPLICAS
            case 20: // NOT_ENOUGH_REPLICAS_AFTER_APPEND
            case 56: // KAFKA_STORAGE_ERROR
            case 74: // FENCED_LEADER_EPOCH
            case 75: // UNKNOWN_LEADER_EPOCH
            case 89: // THROTTLING_QUOTA_EXCEEDED
                return true;
            default:
                return false;
        }
    }

    /** Errors after which the partition's leader may have moved: metadata is asked again. */
    static boolean staleMetadata(short code) {
        return code == UNKNOWN_TOPIC_OR_PARTITION || code == LEADER_NOT_AVAILABLE || code == NOT_LEADER_OR_FOLLOWER
                || code == 13 || code == 56 || code == 74 || code == 75;
    }

    /** Errors that mean the broker no longer follows this producer id's sequence: start over with a new id. */
    static boolean producerLost(short code) {
        return code == OUT_OF_ORDER_SEQUENCE_NUMBER || code == UNKNOWN_PRODUCER_ID || code == INVALID_PRODUCER_EPOCH;
    }

    static String describe(short code) {
        String name;
        switch (code) {
            case -1: name = "UNKNOWN_SERVER_ERROR"; break;
            case 2: name = "CORRUPT_MESSAGE"; break;
            case UNKNOWN_TOPIC_OR_PARTITION: name = "UNKNOWN_TOPIC_OR_PARTITION"; break;
            case LEADER_NOT_AVAILABLE: name = "LEADER_NOT_AVAILABLE"; break;
            case NOT_LEADER_OR_FOLLOWER: name = "NOT_LEADER_OR_FOLLOWER"; break;
            case 7: name = "REQUEST_TIMED_OUT"; break;
            case 14: name = "COORDINATOR_LOAD_IN_PROGRESS"; break;
            case 15: name = "COORDINATOR_NOT_AVAILABLE"; break;
            case 16: name = "NOT_COORDINATOR"; break;
            case 10: name = "MESSAGE_TOO_LARGE"; break;
            case 17: name = "INVALID_TOPIC_EXCEPTION"; break;
            case 18: name = "RECORD_LIST_TOO_LARGE"; break;
            case 19: name = "NOT_ENOUGH_REPLICAS"; break;
            case 20: name = "NOT_ENOUGH_REPLICAS_AFTER_APPEND"; break;
            case 29: name = "TOPIC_AUTHORIZATION_FAILED"; break;
            case 31: name = "CLUSTER_AUTHORIZATION_FAILED"; break;
            case 35: name = "UNSUPPORTED_VERSION"; break;
            case OUT_OF_ORDER_SEQUENCE_NUMBER: name = "OUT_OF_ORDER_SEQUENCE_NUMBER"; break;
            case INVALID_PRODUCER_EPOCH: name = "INVALID_PRODUCER_EPOCH"; break;
            case UNKNOWN_PRODUCER_ID: name = "UNKNOWN_PRODUCER_ID"; break;
            case 87: name = "INVALID_RECORD"; break;
            default: name = "error";
        }
        return name + " (" + code + ")";
    }
}
