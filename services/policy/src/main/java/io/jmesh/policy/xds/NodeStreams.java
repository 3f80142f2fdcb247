package io.jmesh.policy.xds;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * The streams each node holds, oldest first, so that one node holds at most {@code maxPerNode}: a ztunnel needs one
 * (two while it reconnects and its old stream is not noticed gone), and each stream keeps its subscriptions and what
 * was sent. A node's newest stream beyond the bound replaces its oldest rather than being refused: a ztunnel whose
 * dead streams (half-open connections) are not noticed yet must still be served when it reconnects.
 *
 * <p>Streams open and close on every event loop: each node's short list is replaced whole, atomically.
 *
 * @param <S> what the server knows of a stream (how to end it)
 */
final class NodeStreams<S> {

    private final int maxPerNode;
    private final ConcurrentHashMap<String, List<S>> byNode = new ConcurrentHashMap<>();

    NodeStreams(int maxPerNode) {
        this.maxPerNode = maxPerNode;
    }

    int maxPerNode() {
        return maxPerNode;
    }

    /** Registers {@code stream} as {@code node}'s newest; returns its oldest beyond the bound, unregistered: to end. */
    List<S> open(String node, S stream) {
        List<S> beyond = new ArrayList<>();
        byNode.compute(node, (n, held) -> {
            beyond.clear();
            List<S> next = new ArrayList<>(held == null ? List.of() : held);
            next.add(stream);
            while (next.size() > maxPerNode) {
                beyond.add(next.remove(0));
            }
            return List.copyOf(next);
        });
        return beyond;
    }

    /** {@code stream} of {@code node} ended (or was never registered). */
    void closed(String node, S stream) {
        byNode.computeIfPresent(node, (n, held) -> {
            List<S> next = new ArrayList<>(held);
            next.remove(stream);
            return next.isEmpty() ? null : List.copyOf(next);
        });
    }

    /** Streams {@code node} holds now. */
    int of(String node) {
        List<S> held = byNode.get(node);
        return held == null ? 0 : held.size();
    }
}
