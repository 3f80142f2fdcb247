package io.jmesh.ztunnel.identity;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.ztunnel.tls.HboneTls;
import io.jmesh.ztunnel.tls.TrustBundle;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Context;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.VertxException;
import java.security.KeyPair;
import java.security.KeyPairGenerator;
import java.security.cert.X509Certificate;
import java.security.spec.ECGenParameterSpec;
import java.time.Clock;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.Supplier;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Holds one certificate per local workload identity, fetched from the CA with a CSR for a fresh ECDSA P-256 key.
 *
 * <p>Invariants: at most {@code maxConcurrentCsrs} requests in flight (connections that need a certificate now go
 * to the front of the queue, prefetch and refresh to the back); a certificate is refreshed at half-life plus up to
 * 5 % jitter; a failed fetch retries with per-identity exponential backoff while the old certificate, if still
 * valid, keeps serving, and until then a connection that needs a certificate fails at once with the last error
 * (no CSR); identities no longer wanted are forgotten (no refresh, dropped).
 *
 * <p>All state lives on one Vert.x context; key generation and signing run on worker threads. The data path
 * reads {@link #current} from a concurrent map without locks.
 */
public final class IdentityManager {

    private static final Logger log = LoggerFactory.getLogger(IdentityManager.class);

    /** What the manager needs to know; see {@code identity.*} in ztunnel-defaults.yaml. */
    public record Settings(Duration certTtl, int maxConcurrentCsrs, Duration initialBackoff, Duration maxBackoff,
            String trustDomain) {}

    private final Vertx vertx;
    private final Context context;
    private final CaClient ca;
    private final TrustBundle trust;
    private final Settings settings;
    private final Clock clock;
    private final Counter fetches;
    private final Counter rejected;
    private final Counter revoked;

    private final Map<SpiffeId, WorkloadCertificate> current = new ConcurrentHashMap<>();
    // below: only touched on `context`
    private final Map<SpiffeId, Entry> entries = new HashMap<>();
    private final Deque<SpiffeId> queue = new ArrayDeque<>();
    private int inFlight;
    private long timerId = -1;

    private static final class Entry {
        boolean wanted;
        boolean queued;
        boolean fetching;
        Instant refreshAt = Instant.MAX;
        Instant retryAt = Instant.MAX;
        /** When the last fetch failed: a clock now before it has stepped back (see {@link #retryAt}). */
        Instant failedAt = Instant.MIN;
        Duration backoff;
        /**
         * Forgotten (no local workload) with its backoff kept: declared local again, it is fetched at once, as
         * Istio's SecretManager queues a new fetch for now, while a failure goes on doubling the backoff.
         */
        boolean forgotten;
        /** Why the last fetch failed; null after a success. */
        Throwable lastError;
        final List<Promise<WorkloadCertificate>> waiters = new ArrayList<>();
    }

    public IdentityManager(Vertx vertx, CaClient ca, TrustBundle trust, Settings settings, Clock clock,
            PrometheusRegistry metrics) {
        this.vertx = vertx;
        this.context = vertx.getOrCreateContext();
        this.ca = ca;
        this.trust = trust;
        this.settings = settings;
        this.clock = clock;
        this.fetches = Counter.builder().name("ztunnel_certificate_fetches_total")
                .help("certificate fetches from the CA, by outcome").labelNames("outcome").register(metrics);
        this.rejected = Counter.builder().name("ztunnel_certificate_rejected_total")
                .help("CA answers refused before use (each also counts as a failed fetch), by reason")
                .labelNames("reason").register(metrics);
        RejectedCertificate.REASONS.forEach(rejected::labelValues); // zero series: dashboards and alerts see 0
        this.revoked = Counter.builder().name("ztunnel_certificates_revoked_total")
                .help("own workload certificates dropped because the CRL lists them (each is re-issued)")
                .register(metrics);
    }

    /** Starts the once-a-second check for due refreshes and retries. */
    public void start() {
        context.runOnContext(v -> timerId = vertx.setPeriodic(1000, id -> tick()));
    }

    public void stop() {
        context.runOnContext(v -> vertx.cancelTimer(timerId));
    }

    /** The certificate for {@code id} if one is held and valid now; never blocks. */
    /** The trust bundle every context of this manager verifies peers against. */
    public TrustBundle trust() {
        return trust;
    }

    public WorkloadCertificate current(SpiffeId id) {
        WorkloadCertificate c = current.get(id);
        return c != null && c.validAt(clock.instant()) ? c : null;
    }

    /** Every held certificate (for /config_dump). */
    public Map<SpiffeId, WorkloadCertificate> all() {
        return Map.copyOf(current);
    }

    /** The certificate for {@code id}, fetched at top priority when none is held. */
    public Future<WorkloadCertificate> certificate(SpiffeId id) {
        WorkloadCertificate c = current(id);
        if (c != null) {
            return Future.succeededFuture(c);
        }
        Promise<WorkloadCertificate> p = Promise.promise();
        context.runOnContext(v -> {
            WorkloadCertificate now = current(id);
            if (now != null) {
                p.complete(now);
                return;
            }
            Entry e = entries.computeIfAbsent(id, k -> new Entry());
            if (backingOff(e)) {
                // as Istio: the stored error until the next try. A CSR per connection would each fail, push the
                // backoff further and load a CA that is already failing
                p.fail(VertxException.noStackTrace("ca failed to issue a certificate (" + e.lastError.getMessage()
                        + "); backing off, next try at " + e.retryAt));
                return;
            }
            e.waiters.add(p);
            enqueue(id, e, true);
            pump();
        });
        return p.future();
    }

    /**
     * Declares the identities of the workloads on this node: new ones are prefetched, departed ones forgotten.
     */
    public void setLocalIdentities(Set<SpiffeId> ids) {
        Set<SpiffeId> copy = Set.copyOf(ids);
        refreshLocalIdentities(() -> copy);
    }

    /**
     * As {@link #setLocalIdentities}, with the identities read from {@code source} on this manager's context when the
     * refresh runs: callers on different threads (discovery, the CNI agent link) that each ask for a refresh after
     * their own change then converge on the latest of both, whatever order their requests arrive in.
     */
    public void refreshLocalIdentities(Supplier<Set<SpiffeId>> source) {
        context.runOnContext(v -> {
            Set<SpiffeId> copy = Set.copyOf(source.get());
            for (SpiffeId id : copy) {
                Entry e = entries.computeIfAbsent(id, k -> new Entry());
                if (!e.wanted) {
                    e.wanted = true;
                    WorkloadCertificate held = current(id);
                    if (held != null) {
                        if (!e.fetching) {
                            // fetched for a connection while the identity was not local (before discovery named
                            // it, or after its workload left): nothing scheduled its refresh, so schedule it now
                            e.refreshAt = jittered(held);
                        }
                    } else if (e.forgotten || !backingOff(e)) {
                        enqueue(id, e, false); // else tick() retries it when the backoff ends
                    }
                    e.forgotten = false;
                }
            }
            for (var it = entries.entrySet().iterator(); it.hasNext(); ) {
                var en = it.next();
                Entry e = en.getValue();
                if (!copy.contains(en.getKey()) && e.wanted) {
                    e.wanted = false;
                    if (e.waiters.isEmpty() && !e.fetching) {
                        if (queue.remove(en.getKey())) {
                            e.queued = false;
                        }
                        if (e.lastError == null) {
                            it.remove();
                        } else {
                            // backing off: kept, so that the backoff goes on if the identity comes back (Istio keeps
                            // an identity's backoff until a fetch succeeds); tick() drops it once past its retry time
                            e.forgotten = true;
                        }
                    }
                    current.remove(en.getKey());
                    log.atInfo().addKeyValue("identity", en.getKey().uri()).log("identity forgotten: no local workload uses it");
                }
            }
            pump();
        });
    }

    /**
     * A new trust bundle: drops every held certificate its CRL lists (leaf or intermediate) or, when roots were
     * removed, whose chain no longer ends at a trusted root, and fetches a new one at top priority for identities
     * still wanted. Connections that need one meanwhile wait for the fetch.
     */
    public void dropRevoked(TrustSnapshot trust, boolean rootsRemoved) {
        if (trust.revoked().isEmpty() && !rootsRemoved) {
            return;
        }
        context.runOnContext(v -> {
            for (var en : Map.copyOf(current).entrySet()) {
                X509Certificate hit = trust.firstRevoked(en.getValue().chain());
                boolean retired = hit == null && rootsRemoved && !trust.anchors(en.getValue().chain());
                if ((hit == null && !retired) || !current.remove(en.getKey(), en.getValue())) {
                    continue;
                }
                if (retired) {
                    log.atWarn().addKeyValue("identity", en.getKey().uri()).addKeyValue("serial",
                            en.getValue().serial()).addKeyValue("bundleVersion", trust.version())
                            .log("own certificate chains to a root no longer trusted: dropped, fetching a new one");
                } else {
                    revoked.inc();
                    log.atWarn().addKeyValue("identity", en.getKey().uri())
                            .addKeyValue("serial", en.getValue().serial())
                            .addKeyValue("revokedSerial", Certificates.serialHex(hit))
                            .addKeyValue("bundleVersion", trust.version())
                            .log("own certificate revoked: dropped, fetching a new one");
                }
                Entry e = entries.get(en.getKey());
                if (e != null && e.wanted) {
                    e.refreshAt = Instant.MAX;
                    enqueue(en.getKey(), e, true);
                }
            }
            pump();
        });
    }

    /** CA certificates between held leaves and the roots (a plug-in CA's intermediates), for CRL verification. */
    public List<X509Certificate> intermediates() {
        List<X509Certificate> out = new ArrayList<>();
        for (WorkloadCertificate c : current.values()) {
            for (int i = 1; i < c.chain().size(); i++) {
                if (!out.contains(c.chain().get(i))) {
                    out.add(c.chain().get(i));
                }
            }
        }
        return out;
    }

    /** True when every wanted identity has a valid certificate (readiness). */
    public Future<Boolean> allWantedReady() {
        Promise<Boolean> p = Promise.promise();
        context.runOnContext(v -> {
            for (var en : entries.entrySet()) {
                if (en.getValue().wanted && current(en.getKey()) == null) {
                    p.complete(false);
                    return;
                }
            }
            p.complete(true);
        });
        return p.future();
    }

    /**
     * Checks due refreshes and retries now (the periodic timer calls this; tests call it after moving the clock).
     *
     * @return how many identities this pass queued for a fetch
     */
    public Future<Integer> tick() {
        Promise<Integer> queued = Promise.promise();
        context.runOnContext(v -> {
            Instant now = clock.instant();
            int n = 0;
            for (var it = entries.entrySet().iterator(); it.hasNext(); ) {
                var en = it.next();
                Entry e = en.getValue();
                if (e.fetching || e.queued) {
                    continue;
                }
                if (!e.wanted) {
                    // it only holds a failed connection fetch's backoff (see pump): kept a while past the retry
                    // time, so that the next failure still doubles it (dropped at once when the clock stepped back
                    // before the failure: its backoff is over, see retryAt)
                    if (e.retryAt.equals(Instant.MAX) || now.isBefore(e.failedAt)
                            || !now.isBefore(e.retryAt.plus(settings.maxBackoff()))) {
                        it.remove();
                    }
                    continue;
                }
                // after a failure (a refresh's too) the retry time decides: the refresh time has already passed
                // a held certificate the clock stepped back before (now not yet valid) is replaced at once: its
                // half-life, on the old clock, may be hours away and no peer would accept it meanwhile
                Instant due = e.lastError != null ? retryAt(e, now)
                        : current(en.getKey()) == null ? now : e.refreshAt;
                if (!now.isBefore(due)) {
                    enqueue(en.getKey(), e, false);
                    n++;
                }
            }
            pump();
            queued.complete(n);
        });
        return queued.future();
    }

    private void enqueue(SpiffeId id, Entry e, boolean urgent) {
        if (e.queued || e.fetching) {
            if (urgent && e.queued && queue.remove(id)) {
                queue.addFirst(id);
            }
            return;
        }
        e.queued = true;
        if (urgent) {
            queue.addFirst(id);
        } else {
            queue.addLast(id);
        }
    }

    private void pump() {
        while (inFlight < settings.maxConcurrentCsrs() && !queue.isEmpty()) {
            SpiffeId id = queue.pollFirst();
            Entry e = entries.get(id);
            if (e == null) {
                continue;
            }
            e.queued = false;
            e.fetching = true;
            inFlight++;
            fetch(id).onComplete(ar -> {
                inFlight--;
                e.fetching = false;
                if (ar.succeeded()) {
                    WorkloadCertificate c = ar.result();
                    fetches.labelValues("success").inc();
                    e.backoff = null;
                    e.lastError = null;
                    e.retryAt = Instant.MAX;
                    e.refreshAt = jittered(c);
                    if (e.wanted || !e.waiters.isEmpty()) {
                        current.put(id, c);
                    }
                    log.atInfo().addKeyValue("identity", id.uri()).addKeyValue("serial", c.serial())
                            .addKeyValue("expires", c.notAfter().toString()).log("certificate issued");
                    e.waiters.forEach(p -> p.tryComplete(c));
                } else {
                    fetches.labelValues("failure").inc();
                    if (ar.cause() instanceof RejectedCertificate r) {
                        rejected.labelValues(r.reason()).inc();
                    }
                    Duration b = e.backoff == null ? settings.initialBackoff()
                            : min(e.backoff.multipliedBy(2), settings.maxBackoff());
                    e.backoff = b;
                    e.lastError = ar.cause();
                    long jitterMs = ThreadLocalRandom.current().nextLong(Math.max(1, b.toMillis() / 2) + 1);
                    e.failedAt = clock.instant();
                    e.retryAt = e.failedAt.plus(b).plusMillis(jitterMs);
                    // as Istio: retry at the backoff or when the certificate still serving expires, if sooner, so
                    // that a long backoff never leaves the identity without a certificate
                    WorkloadCertificate held = current(id);
                    if (held != null && held.notAfter().isBefore(e.retryAt)) {
                        e.retryAt = held.notAfter();
                    }
                    log.atWarn().addKeyValue("identity", id.uri()).addKeyValue("backoff", b.toString())
                            .addKeyValue("retryAt", e.retryAt.toString())
                            .addKeyValue("error", String.valueOf(ar.cause().getMessage()))
                            .log(held != null ? "certificate fetch failed; a still-valid certificate keeps serving"
                                    : "certificate fetch failed; connections of this identity are refused until"
                                            + " a fetch succeeds");
                    e.waiters.forEach(p -> p.tryFail(ar.cause()));
                    if (e.wanted) {
                        vertx.setTimer(Math.max(1, e.retryAt.toEpochMilli() - e.failedAt.toEpochMilli()), t -> tick());
                    }
                }
                e.waiters.clear();
                // an identity that is not local keeps a failed entry, so that connections asking for it respect
                // the backoff too; tick() drops it after the retry time
                if (!e.wanted && e.lastError == null) {
                    entries.remove(id);
                }
                pump();
            });
        }
    }

    /** Between a failed fetch and its retry time, with no fetch queued or in flight. */
    private boolean backingOff(Entry e) {
        Instant now = clock.instant();
        return e.lastError != null && !e.fetching && !e.queued && now.isBefore(retryAt(e, now));
    }

    /**
     * When {@code e}'s failed fetch may be retried. The retry time is on the wall clock, which can step back (NTP,
     * a restored VM): then the backoff is over at once, or a 0.5 s backoff would last as long as the step. Istio
     * measures it on a monotonic clock, which never steps.
     */
    private static Instant retryAt(Entry e, Instant now) {
        return now.isBefore(e.failedAt) ? now : e.retryAt;
    }

    private Instant jittered(WorkloadCertificate c) {
        long life = c.notAfter().toEpochMilli() - c.notBefore().toEpochMilli();
        return c.halfLife().plusMillis(ThreadLocalRandom.current().nextLong(Math.max(1, life / 20)));
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }

    private Future<WorkloadCertificate> fetch(SpiffeId id) {
        return vertx.<Csr>executeBlocking(() -> Csr.create(id), false)
                .compose(csr -> ca.createCertificate(csr.pem, id, settings.certTtl())
                        .compose(pems -> vertx.executeBlocking(() -> build(id, csr.keys, pems), false)));
    }

    private WorkloadCertificate build(SpiffeId id, KeyPair keys, List<String> pems) throws Exception {
        List<X509Certificate> chain = CaAnswer.check(id, keys.getPublic(), pems, trust, clock.instant()).chain();
        return new WorkloadCertificate(id, chain,
                HboneTls.server(keys.getPrivate(), chain, trust, settings.trustDomain()),
                HboneTls.client(keys.getPrivate(), chain, trust));
    }

    /** A fresh P-256 key and its CSR: empty subject, one URI SAN (the identity), SHA-256 (Istio's shape). */
    record Csr(KeyPair keys, String pem) {
        static Csr create(SpiffeId id) throws Exception {
            KeyPairGenerator g = KeyPairGenerator.getInstance("EC");
            g.initialize(new ECGenParameterSpec("secp256r1"));
            KeyPair keys = g.generateKeyPair();
            return new Csr(keys, WorkloadCsr.pem(id, keys));
        }
    }
}
