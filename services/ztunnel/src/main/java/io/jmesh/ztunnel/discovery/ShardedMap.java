package io.jmesh.ztunnel.discovery;

import java.util.AbstractMap;
import java.util.AbstractSet;
import java.util.Arrays;
import java.util.Collections;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * An immutable hash map from which a writer derives the next version by copying only what it changes: the keys
 * are spread over {@value #SHARDS} shards (plain hash maps), and an {@link Editor} copies the shard array plus
 * each shard it writes, sharing the others with the previous version. A push that changes {@code k} keys of
 * {@code n} costs about {@code k * n / SHARDS} copied entries instead of {@code n}.
 *
 * <p>Published versions are never written: safe to read from any thread once safely published (a volatile
 * write, as {@link WorkloadStore} does). Null keys and values are not supported. An editor is confined to the
 * thread that uses it.
 */
final class ShardedMap<K, V> extends AbstractMap<K, V> {

    private static final int SHARD_BITS = 10;
    static final int SHARDS = 1 << SHARD_BITS;

    @SuppressWarnings({"rawtypes", "unchecked"})
    private static final ShardedMap<?, ?> EMPTY = new ShardedMap(new HashMap[SHARDS], 0);

    // an empty shard is null; a shard is never written once this map is published
    private final HashMap<K, V>[] shards;
    private final int size;

    private ShardedMap(HashMap<K, V>[] shards, int size) {
        this.shards = shards;
        this.size = size;
    }

    @SuppressWarnings("unchecked")
    static <K, V> ShardedMap<K, V> empty() {
        return (ShardedMap<K, V>) EMPTY;
    }

    /** An editor starting from this map's content. */
    Editor<K, V> edit() {
        return new Editor<>(this, 0);
    }

    /** An editor of a new map expected to hold about {@code size} keys. */
    static <K, V> Editor<K, V> builder(int size) {
        return new Editor<>(empty(), size);
    }

    /**
     * The shard of {@code key}: the top bits of its scrambled hash. (Not the low bits: each shard's HashMap picks
     * buckets by those, and would put all its keys in one bucket.)
     */
    private static int shard(Object key) {
        return (key.hashCode() * 0x9E3779B9) >>> (32 - SHARD_BITS);
    }

    @Override
    public V get(Object key) {
        HashMap<K, V> s = shards[shard(key)];
        return s == null ? null : s.get(key);
    }

    @Override
    public boolean containsKey(Object key) {
        HashMap<K, V> s = shards[shard(key)];
        return s != null && s.containsKey(key);
    }

    @Override
    public int size() {
        return size;
    }

    @Override
    public Set<Entry<K, V>> entrySet() {
        return new AbstractSet<>() {
            @Override
            public Iterator<Entry<K, V>> iterator() {
                return new Iterator<>() {
                    int next;
                    Iterator<Entry<K, V>> current = Collections.emptyIterator();

                    @Override
                    public boolean hasNext() {
                        while (!current.hasNext() && next < SHARDS) {
                            HashMap<K, V> s = shards[next++];
                            if (s != null) {
                                current = Collections.unmodifiableMap(s).entrySet().iterator();
                            }
                        }
                        return current.hasNext();
                    }

                    @Override
                    public Entry<K, V> next() {
                        if (!hasNext()) {
                            throw new NoSuchElementException();
                        }
                        return current.next();
                    }
                };
            }

            @Override
            public int size() {
                return size;
            }
        };
    }

    /** Told each key whose value differs between two versions of a map. */
    interface Difference<K, V> {
        /**
         * @param before the value in the older version, null if absent
         * @param after the value in the newer one, null if absent
         */
        void changed(K key, V before, V after);
    }

    /**
     * Calls {@code out} for each key whose value differs (by identity) between {@code before} and this map. A map
     * an {@link Editor} derived from {@code before} shares the shards it did not write, so this costs one
     * comparison per shard plus the entries of the shards written: proportional to the change, not to the map.
     * Two unrelated maps are compared entry by entry.
     */
    void forEachDifference(ShardedMap<K, V> before, Difference<K, V> out) {
        for (int i = 0; i < SHARDS; i++) {
            HashMap<K, V> was = before.shards[i];
            HashMap<K, V> now = shards[i];
            if (was == now) {
                continue;
            }
            if (was != null) {
                for (Entry<K, V> e : was.entrySet()) {
                    V after = now == null ? null : now.get(e.getKey());
                    if (after != e.getValue()) {
                        out.changed(e.getKey(), e.getValue(), after);
                    }
                }
            }
            if (now != null) {
                for (Entry<K, V> e : now.entrySet()) {
                    if (was == null || !was.containsKey(e.getKey())) {
                        out.changed(e.getKey(), null, e.getValue());
                    }
                }
            }
        }
    }

    /** Builds the next version of a map; copies a shard the first time it writes it. */
    static final class Editor<K, V> {
        private final HashMap<K, V>[] shards;
        private final boolean[] owned = new boolean[SHARDS];
        private final int shardCapacity;
        private int size;

        private Editor(ShardedMap<K, V> from, int expectedSize) {
            this.shards = Arrays.copyOf(from.shards, SHARDS);
            this.size = from.size;
            // a new shard sized for its share of the expected keys, so that a bulk build does not keep resizing
            this.shardCapacity = (int) Math.min(1 << 20, 16 + 2L * expectedSize / SHARDS);
        }

        private HashMap<K, V> writable(int i) {
            if (!owned[i]) {
                owned[i] = true;
                shards[i] = shards[i] == null ? new HashMap<>(shardCapacity) : new HashMap<>(shards[i]);
            }
            return shards[i];
        }

        /** Maps {@code key} to {@code value}; returns the previous value, or null. */
        V put(K key, V value) {
            V had = writable(shard(key)).put(key, value);
            if (had == null) {
                size++;
            }
            return had;
        }

        /** Removes {@code key}; returns the removed value, or null. */
        V remove(K key) {
            int i = shard(key);
            if (shards[i] == null || !shards[i].containsKey(key)) {
                return null;
            }
            size--;
            return writable(i).remove(key);
        }

        /** Removes {@code key} only while it maps to this very {@code value} (identity). */
        void removeIfSame(K key, V value) {
            if (get(key) == value) {
                remove(key);
            }
        }

        V get(K key) {
            HashMap<K, V> s = shards[shard(key)];
            return s == null ? null : s.get(key);
        }

        /** The new map; the editor must not be used afterwards. */
        ShardedMap<K, V> build() {
            return new ShardedMap<>(shards, size);
        }
    }
}
