package io.jmesh.ztunnel.discovery;

import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.ztunnel.authz.AuthorizationStore;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicReference;

/**
 * An {@link AuthorizationStore} that only keeps the received policies (for {@code /config_dump}) and tells
 * listeners; the evaluating store of the {@code authz} package replaces it in {@code ZtunnelBootstrap} when
 * present. Immutable snapshot behind an atomic reference.
 */
public final class RetainedPolicies implements AuthorizationStore {

    private final AtomicReference<Map<String, Authorization>> byName = new AtomicReference<>(Map.of());
    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();

    @Override
    public synchronized void apply(Collection<Authorization> upserts, Collection<String> removedNames) {
        Map<String, Authorization> next = new LinkedHashMap<>(byName.get());
        for (Authorization a : upserts) {
            next.put(a.getNamespace() + "/" + a.getName(), a);
        }
        removedNames.forEach(next::remove);
        byName.set(Map.copyOf(next));
        listeners.forEach(Runnable::run);
    }

    @Override
    public synchronized void replaceAll(Collection<Authorization> all) {
        Map<String, Authorization> next = new LinkedHashMap<>();
        for (Authorization a : all) {
            next.put(a.getNamespace() + "/" + a.getName(), a);
        }
        byName.set(Map.copyOf(next));
        listeners.forEach(Runnable::run);
    }

    @Override
    public void onChange(Runnable listener) {
        listeners.add(listener);
    }

    public Collection<Authorization> all() {
        return byName.get().values();
    }
}
