package io.jmesh.ztunnel.authz;

import io.jmesh.proto.istio.security.Authorization;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.core.metrics.GaugeWithCallback;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The ztunnel's policy store and authorizer in one: discovery pushes {@link Authorization} resources in, each
 * push compiles a new immutable {@link PolicyIndex} which replaces the old one with a single volatile write;
 * {@link #check} reads whichever index is current, without locks.
 *
 * <p>Evaluation follows Istio: the policies in scope are the global ones, those of the destination's namespace
 * and the selector-based ones listed for the destination workload (unknown keys skipped). Then any matching DENY
 * denies; no ALLOW in scope allows; a matching ALLOW allows; otherwise deny. Dry-run policies never change the
 * decision; their matches are logged at debug level.
 *
 * <p>A resource that cannot be compiled (see {@link AuthorizationStore#problem}) is skipped, logged and counted in
 * {@code ztunnel_authorization_rejected_total{reason}}; the previous version of that policy, if any, stays.
 */
public final class IndexedAuthorizer implements Authorizer, AuthorizationStore {

    private static final Logger log = LoggerFactory.getLogger(IndexedAuthorizer.class);

    private final List<Runnable> listeners = new CopyOnWriteArrayList<>();
    private final Counter rejected;
    // writers only (discovery); guarded by `this`
    private final Map<String, CompiledPolicy> compiled = new HashMap<>();
    private volatile PolicyIndex index = PolicyIndex.EMPTY;

    /** A store without metrics (tests, tools). */
    public IndexedAuthorizer() {
        this(null);
    }

    /** A store that counts rejected resources in {@code metrics}; null for none. */
    public IndexedAuthorizer(PrometheusRegistry metrics) {
        if (metrics == null) {
            this.rejected = null;
            return;
        }
        this.rejected = Counter.builder().name("ztunnel_authorization_rejected_total")
                .help("Authorization resources from discovery that could not be compiled and were skipped")
                .labelNames("reason").register(metrics);
        rejected.labelValues("invalid_policy");
        GaugeWithCallback.builder().name("ztunnel_authorization_policies")
                .help("Authorization policies currently enforced").callback(cb -> cb.call(index.size()))
                .register(metrics);
    }

    @Override
    public Decision check(ConnectionFacts facts) {
        PolicyIndex idx = index;
        Peer peer = Peer.of(facts);
        PolicyIndex.Group namespace = idx.namespace(facts.destinationNamespace());
        List<String> keys = facts.destinationPolicyKeys();
        if (log.isDebugEnabled()) {
            logDryRun(idx, namespace, keys, peer);
        }

        CompiledPolicy hit = idx.global.deny.firstMatch(peer);
        if (hit == null) {
            hit = namespace.deny.firstMatch(peer);
        }
        boolean hasAllow = idx.global.hasAllow || namespace.hasAllow;
        for (int i = 0; hit == null && i < keys.size(); i++) {
            CompiledPolicy p = idx.byKey.get(keys.get(i));
            if (p == null || p.dryRun()) {
                continue;
            }
            if (p.deny()) {
                if (p.matches(peer)) {
                    hit = p;
                }
            } else {
                hasAllow = true;
            }
        }
        if (hit != null) {
            return Decision.deny(hit.key(), "denied by deny policy");
        }
        if (!hasAllow) {
            return Decision.allow("", "allowed by default: no allow policies");
        }
        hit = idx.global.allow.firstMatch(peer);
        if (hit == null) {
            hit = namespace.allow.firstMatch(peer);
        }
        for (int i = 0; hit == null && i < keys.size(); i++) {
            CompiledPolicy p = idx.byKey.get(keys.get(i));
            if (p != null && !p.dryRun() && !p.deny() && p.matches(peer)) {
                hit = p;
            }
        }
        if (hit != null) {
            return Decision.allow(hit.key(), "allowed by allow policy");
        }
        return Decision.deny("", "no allow policy matched");
    }

    private static void logDryRun(PolicyIndex idx, PolicyIndex.Group namespace, List<String> keys, Peer peer) {
        List<CompiledPolicy> dry = new ArrayList<>(idx.global.dryRun);
        dry.addAll(namespace.dryRun);
        for (String k : keys) {
            CompiledPolicy p = idx.byKey.get(k);
            if (p != null && p.dryRun()) {
                dry.add(p);
            }
        }
        for (CompiledPolicy p : dry) {
            if (p.matches(peer)) {
                log.atDebug().addKeyValue("policy", p.key()).addKeyValue("action", p.deny() ? "DENY" : "ALLOW")
                        .addKeyValue("principal", peer.principal()).log("dry-run policy matched");
            }
        }
    }

    @Override
    public void apply(Collection<Authorization> upserts, Collection<String> removedNames) {
        synchronized (this) {
            for (Authorization a : upserts) {
                CompiledPolicy p = compileOrReject(a);
                if (p != null) {
                    compiled.put(p.key(), p);
                }
            }
            for (String name : removedNames) {
                compiled.remove(name);
            }
            index = new PolicyIndex(compiled.values());
        }
        notifyListeners();
    }

    @Override
    public void replaceAll(Collection<Authorization> all) {
        synchronized (this) {
            Map<String, CompiledPolicy> previous = new HashMap<>(compiled);
            compiled.clear();
            for (Authorization a : all) {
                CompiledPolicy p = compileOrReject(a);
                String key = a.getNamespace() + "/" + a.getName();
                if (p != null) {
                    compiled.put(key, p);
                } else if (previous.containsKey(key)) {
                    compiled.put(key, previous.get(key));
                }
            }
            index = new PolicyIndex(compiled.values());
        }
        notifyListeners();
    }

    @Override
    public void onChange(Runnable listener) {
        listeners.add(listener);
    }

    /** Number of policies in the current snapshot. */
    public int size() {
        return index.size();
    }

    private CompiledPolicy compileOrReject(Authorization a) {
        try {
            return CompiledPolicy.compile(a);
        } catch (IllegalArgumentException e) {
            if (rejected != null) {
                rejected.labelValues("invalid_policy").inc();
            }
            log.atWarn().addKeyValue("policy", a.getNamespace() + "/" + a.getName())
                    .log("authorization policy skipped: {}", e.getMessage());
            return null;
        }
    }

    private void notifyListeners() {
        for (Runnable l : listeners) {
            try {
                l.run();
            } catch (RuntimeException e) {
                log.atWarn().setCause(e).log("authorization change listener failed");
            }
        }
    }
}
