package io.jmesh.policy.state;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Function;

/**
 * Objects with label selectors (services, selector policies), filed under one {@code key=value} pair of their
 * selector, so finding those that select a workload looks at its own labels instead of every selector in the
 * namespace. Empty selectors select nothing and are not filed.
 */
final class SelectorIndex<T> {

    private final Map<String, List<T>> byPair = new HashMap<>();
    private final Function<T, Map<String, String>> selectorOf;

    SelectorIndex(Function<T, Map<String, String>> selectorOf) {
        this.selectorOf = selectorOf;
    }

    void add(T item) {
        Map<String, String> selector = selectorOf.apply(item);
        if (selector.isEmpty()) {
            return;
        }
        // any one pair will do: a selecting workload must carry all of them
        Map.Entry<String, String> first = selector.entrySet().iterator().next();
        byPair.computeIfAbsent(first.getKey() + "=" + first.getValue(), k -> new ArrayList<>()).add(item);
    }

    /** Every item whose selector {@code labels} satisfy, in insertion order per pair. */
    List<T> selecting(Map<String, String> labels) {
        List<T> out = null;
        for (Map.Entry<String, String> l : labels.entrySet()) {
            List<T> candidates = byPair.get(l.getKey() + "=" + l.getValue());
            if (candidates == null) {
                continue;
            }
            for (T c : candidates) {
                if (MeshStateBuilder.selects(selectorOf.apply(c), labels)) {
                    if (out == null) {
                        out = new ArrayList<>();
                    }
                    out.add(c);
                }
            }
        }
        return out == null ? List.of() : out;
    }
}
