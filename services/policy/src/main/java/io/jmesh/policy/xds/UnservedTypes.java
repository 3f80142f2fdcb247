package io.jmesh.policy.xds;

import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.Map;
import java.util.Set;
import java.util.function.BiConsumer;

/**
 * One stream's requests for a {@code type_url} discovery serves nothing of. istiod answers them (its default
 * generator returns an empty set, "to not break waiting code"), the names subscribed listed as removed, and does
 * not answer the ACK of that answer. So here, with state bounded per stream: the types answered (at most
 * {@value #MAX_TRACKED}; a request with a nonce for one of them is its ACK or NACK) and the answers a full write
 * queue holds back until it drains (at most one per type, their names at most {@link AdsStream#MAX_NAMES}).
 */
final class UnservedTypes {

    static final int MAX_TRACKED = 16;

    private final Set<String> answered = new HashSet<>();
    private final Map<String, Set<String>> owed = new LinkedHashMap<>();

    /**
     * Whether {@code req} gets an answer: not the ACK of one. A type past the tracked ones is answered only without
     * a nonce (its ACK cannot be told from a first request and answering it could never end).
     */
    boolean answers(DeltaDiscoveryRequest req) {
        String type = req.getTypeUrl();
        if (answered.contains(type)) {
            return req.getResponseNonce().isEmpty();
        }
        if (answered.size() < MAX_TRACKED) {
            answered.add(type);
            return true;
        }
        return req.getResponseNonce().isEmpty();
    }

    /** The names {@code req} subscribes or says it holds ({@code *} left out): the answer lists them as removed. */
    static Set<String> removedNames(DeltaDiscoveryRequest req) {
        Set<String> names = new LinkedHashSet<>(req.getResourceNamesSubscribeList());
        names.addAll(req.getInitialResourceVersionsMap().keySet());
        names.remove("*");
        return names;
    }

    /** Holds an answer back (the write queue is full); merged with one already held for the type. */
    void owe(String type, Set<String> names) {
        Set<String> held = owed.get(type);
        if (held == null) {
            if (owed.size() >= MAX_TRACKED) {
                return; // a client not reading what it asked for: it gets no more than that
            }
            owed.put(type, new LinkedHashSet<>(names));
            return;
        }
        for (String n : names) {
            if (held.size() >= AdsStream.MAX_NAMES) {
                break;
            }
            held.add(n);
        }
    }

    /** Hands the answers held back to {@code answer}, forgetting them first (it may hold one back again). */
    void drain(BiConsumer<String, Set<String>> answer) {
        if (owed.isEmpty()) {
            return;
        }
        Map<String, Set<String>> due = new LinkedHashMap<>(owed);
        owed.clear();
        due.forEach(answer);
    }
}
