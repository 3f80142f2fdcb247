package io.jmesh.ztunnel.authz;

import java.util.List;
import java.util.Map;

/**
 * Policies filed under principal prefixes (or suffixes), found for a principal without scanning them all and
 * without allocating: one pass over the principal's characters keeps a rolling hash of its prefix (suffix) so far,
 * and at each length some key has, one probe of an open-addressing table finds the keys of that length and hash.
 * The cost is bounded by the principal's length, not by the number of policies. Immutable.
 */
final class AffixIndex {

    static final AffixIndex EMPTY = new AffixIndex(Map.of(), false);

    private final boolean suffix;
    private final String[] keys;
    private final int[] hashes;
    private final CompiledPolicy[][] policies;
    /** Slot → key index + 1; 0 is an empty slot. */
    private final int[] table;
    private final int mask;
    /** hasLength[n]: some key is n characters long. */
    private final boolean[] hasLength;

    /**
     * @param byAffix prefix (or suffix) → the policies that require it
     * @param suffix whether the keys are suffixes
     */
    AffixIndex(Map<String, List<CompiledPolicy>> byAffix, boolean suffix) {
        this.suffix = suffix;
        int n = byAffix.size();
        keys = new String[n];
        hashes = new int[n];
        policies = new CompiledPolicy[n][];
        table = new int[Math.max(2, Integer.highestOneBit(Math.max(1, n) * 2) << 1)];
        mask = table.length - 1;
        int maxLength = 0;
        int i = 0;
        for (var e : byAffix.entrySet()) {
            keys[i] = e.getKey();
            hashes[i] = hash(e.getKey(), e.getKey().length());
            policies[i] = e.getValue().toArray(new CompiledPolicy[0]);
            maxLength = Math.max(maxLength, e.getKey().length());
            int slot = spread(hashes[i]) & mask;
            while (table[slot] != 0) {
                slot = (slot + 1) & mask;
            }
            table[slot] = i + 1;
            i++;
        }
        hasLength = new boolean[maxLength + 1];
        for (String k : keys) {
            hasLength[k.length()] = true;
        }
    }

    boolean isEmpty() {
        return keys.length == 0;
    }

    /** The first policy filed under a prefix (suffix) of {@code value} that matches the peer, or null. */
    CompiledPolicy firstMatch(String value, Peer p) {
        int limit = Math.min(value.length(), hasLength.length - 1);
        int h = 0;
        if (hasLength[0]) {
            CompiledPolicy hit = probe(value, 0, h, p);
            if (hit != null) {
                return hit;
            }
        }
        int last = value.length() - 1;
        for (int n = 0; n < limit; n++) {
            h = 31 * h + (suffix ? value.charAt(last - n) : value.charAt(n));
            if (hasLength[n + 1]) {
                CompiledPolicy hit = probe(value, n + 1, h, p);
                if (hit != null) {
                    return hit;
                }
            }
        }
        return null;
    }

    private CompiledPolicy probe(String value, int length, int h, Peer p) {
        for (int slot = spread(h) & mask; table[slot] != 0; slot = (slot + 1) & mask) {
            int k = table[slot] - 1;
            String key = keys[k];
            if (hashes[k] == h && key.length() == length
                    && (suffix ? value.endsWith(key) : value.startsWith(key))) {
                // keys are distinct: no other key can be this affix
                for (CompiledPolicy policy : policies[k]) {
                    if (policy.matches(p)) {
                        return policy;
                    }
                }
                return null;
            }
        }
        return null;
    }

    /** The rolling hash of a key, read from its start (prefix) or its end (suffix), as the lookup computes it. */
    private int hash(String key, int length) {
        int h = 0;
        for (int n = 0; n < length; n++) {
            h = 31 * h + (suffix ? key.charAt(length - 1 - n) : key.charAt(n));
        }
        return h;
    }

    private static int spread(int h) {
        return h ^ (h >>> 16);
    }
}
