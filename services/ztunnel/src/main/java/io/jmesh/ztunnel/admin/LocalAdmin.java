package io.jmesh.ztunnel.admin;

import io.jmesh.core.admin.AdminServer;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.logging.JsonLogging;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.ztunnel.discovery.DeltaAdsClient;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.identity.IdentityManager;
import io.jmesh.ztunnel.identity.WorkloadCertificate;
import io.jmesh.ztunnel.tls.TrustSnapshot;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerRequest;
import io.vertx.core.json.JsonArray;
import io.vertx.core.json.JsonObject;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.IntFunction;
import java.util.function.Supplier;

/**
 * The local-only admin server (15000 on 127.0.0.1): {@code /config_dump} (workloads, services, policies,
 * certificates with expiry, in the shape {@code istioctl ztunnel-config} reads), {@code /logging} (POST, as
 * Istio's: alone it lists the levels; {@code ?level=debug} or {@code ?<logger>=debug} changes them, {@code ?reset}
 * returns to the startup levels), {@code /quitquitquit} (POST: drain and exit), and Istio's
 * {@code /debug/pprof/profile} and {@code /debug/pprof/heap} (pprof's format, or the JVM's: a flight recording, an
 * HPROF dump) ({@link Profiles}).
 */
public final class LocalAdmin {

    private static final Set<String> LEVELS = Set.of("trace", "debug", "info", "warn", "error", "off");
    /** Most on-demand subscriptions {@code /config_dump} lists by name (up to 100,000 may be subscribed). */
    static final int MAX_LISTED_ALIASES = 1_000;

    private final Vertx vertx;
    private final WorkloadStore store;
    private final IdentityManager identities;
    private final Supplier<Collection<Authorization>> policies;
    private final Runnable quit;
    private final JsonObject configJson;
    private final Supplier<TrustSnapshot> trust;
    /** The levels ztunnel started with (its configuration's), to which {@code /logging?reset} returns. */
    private final Map<String, String> startupLevels = Map.copyOf(JsonLogging.levels());
    private volatile HttpServer server;
    private volatile Supplier<JsonObject> workloadState;
    private volatile IntFunction<DeltaAdsClient.OnDemandState> onDemand;
    private final Profiles profiles;

    /** @param trust the trust bundle in force (roots and CRL), shown as {@code trustBundle} */
    public LocalAdmin(Vertx vertx, WorkloadStore store, IdentityManager identities,
            Supplier<Collection<Authorization>> policies, Runnable quit, JsonObject configJson,
            Supplier<TrustSnapshot> trust) {
        this.trust = trust;
        this.vertx = vertx;
        this.store = store;
        this.identities = identities;
        this.policies = policies;
        this.quit = quit;
        this.configJson = configJson;
        this.profiles = new Profiles(vertx);
    }

    /** In-pod mode: the pods' proxies by uid, shown as {@code workloadState} (as Istio's dump does). */
    public void workloadState(Supplier<JsonObject> state) {
        this.workloadState = state;
    }

    /** On-demand discovery: its subscriptions, listing at most the given number, shown as {@code onDemand}. */
    public void onDemand(IntFunction<DeltaAdsClient.OnDemandState> state) {
        this.onDemand = state;
    }

    public Future<Void> start(int port) {
        return vertx.createHttpServer(AdminServer.plainHttpOptions("127.0.0.1", port))
                .requestHandler(this::handle).listen().map(s -> {
                    server = s;
                    return null;
                });
    }

    public int port() {
        HttpServer s = server;
        return s == null ? -1 : s.actualPort();
    }

    public Future<Void> close() {
        HttpServer s = server;
        return s == null ? Future.succeededFuture() : s.close();
    }

    private void handle(HttpServerRequest req) {
        switch (req.path()) {
            case "/" -> req.response().putHeader("content-type", "text/plain").end(INDEX);
            case "/config_dump" -> configDumpOffTheEventLoop(req);
            case "/logging" -> logging(req);
            case "/quitquitquit" -> {
                if (req.method() != io.vertx.core.http.HttpMethod.POST) {
                    req.response().setStatusCode(405).end("use POST\n");
                    return;
                }
                req.response().end("draining\n");
                quit.run();
            }
            case "/debug/pprof/profile" -> profiles.profile(req);
            case "/debug/pprof/heap" -> profiles.heap(req);
            default -> req.response().setStatusCode(404).end("not found: " + req.path()
                    + " (known: /config_dump, /logging, /quitquitquit, /debug/pprof/profile, /debug/pprof/heap; / lists"
                    + " them)\n");
        }
    }

    /**
     * The dump is built and encoded on a worker thread: for a large mesh (tens of thousands of addresses) that takes
     * tens of milliseconds, and the admin server shares its event loops with the tunnels. Everything it reads is an
     * immutable snapshot or a concurrent map.
     */
    private void configDumpOffTheEventLoop(HttpServerRequest req) {
        vertx.executeBlocking(() -> configDump().encodePrettily(), false).onComplete(ar -> {
            if (ar.succeeded()) {
                req.response().putHeader("content-type", "application/json").end(ar.result());
            } else {
                req.response().setStatusCode(500).end("config_dump failed: " + ar.cause() + "\n");
            }
        });
    }

    /** What {@code GET /} answers, as Istio's admin lists its endpoints. */
    static final String INDEX = """
            ztunnel admin (local only)
              GET  /config_dump    workloads, services, policies, certificates with expiry, trust bundle (JSON)
              POST /logging        logger levels ("current log level is ..."); POST /logging?<logger>=<level>, or
                                   ?level=<logger>:<level>,... (Istio's form, also <logger>=<level>; a bare level
                                   sets the root); POST /logging?reset[&level=...] returns to the startup levels first
              POST /quitquitquit   drain and exit
              GET  /debug/pprof/profile[?seconds=10][&format=pprof]
                                   a CPU profile over that many seconds (1 to 60), in pprof's format (go tool pprof);
                                   format=jfr: the JDK Flight Recorder recording (jfr print, JDK Mission Control)
              GET  /debug/pprof/heap[?format=pprof]
                                   the live heap by class in pprof's format (after a full collection);
                                   format=hprof: a dump of every live object (the process stops while it is written)
            metrics: :15020/metrics (also /stats/prometheus); readiness: :15021/healthz/ready
            """;

    /** Istio's usage text for {@code /logging}, in its answers to a wrong method or a bad level. */
    static final String LOGGING_HELP = """

            usage: POST /logging\t\t\t\t\t\t(To list current level)
            usage: POST /logging?level=<level>\t\t\t\t(To change global levels)
            usage: POST /logging?level={logger1}:{level1},{logger2}:{level2}\t(To change specific loggers' level)
            usage: POST /logging?reset[&level=...]\t\t\t\t(Back to the startup levels first)

            hint: loglevel:\ttrace|debug|info|warn|error|off
            hint: logger:\tthe logger name, e.g. io.jmesh.ztunnel.pool, or access
            """;

    /**
     * Istio's {@code handle_logging}: POST only (any other method is 405 "Invalid HTTP method" with the usage).
     * {@code POST /logging?<logger>=<level>}, {@code ?level=<level>} (the root) or Istio's form, which
     * {@code istioctl ztunnel-config log} sends: {@code ?level=<logger>:<level>,<logger>=<level>}; with
     * {@code reset} (any value, or none: istioctl's {@code -r} sends {@code ?level=info&reset}) every logger first
     * returns to its startup level, as Istio's ztunnel does. Every change is checked before any (or the reset)
     * applies (a bad one is 400). The answer, as Istio's, is one text line: {@code current log level is
     * <logger>=<level>,...,<root level>} (its filter's syntax), which istioctl prints as it comes.
     */
    private void logging(HttpServerRequest req) {
        if (req.method() != io.vertx.core.http.HttpMethod.POST) {
            text(req, 405, "Invalid HTTP method\n" + LOGGING_HELP);
            return;
        }
        boolean reset = false;
        Map<String, String> changes = new LinkedHashMap<>();
        for (Map.Entry<String, String> e : req.params()) {
            if ("reset".equals(e.getKey())) {
                reset = true;
                continue;
            }
            if (!"level".equals(e.getKey())) {
                changes.put(e.getKey(), e.getValue());
                continue;
            }
            for (String item : e.getValue().split(",")) {
                if (item.isBlank()) {
                    continue; // Istio's ?level= (empty) changes nothing
                }
                // Istio's ztunnel reads <logger>=<level> (its filter syntax); istioctl documents <logger>:<level>
                int sep = Math.max(item.lastIndexOf(':'), item.lastIndexOf('='));
                changes.put(sep < 0 ? "root" : item.substring(0, sep).trim(), item.substring(sep + 1).trim());
            }
        }
        for (Map.Entry<String, String> c : changes.entrySet()) {
            if (c.getKey().isEmpty() || !LEVELS.contains(c.getValue().toLowerCase(java.util.Locale.ROOT))) {
                text(req, 400, "Invalid level provided: logger '" + c.getKey() + "', level '" + c.getValue()
                        + "' (expected a logger name and one of " + LEVELS + ")\n" + LOGGING_HELP);
                return;
            }
        }
        if (reset) {
            JsonLogging.restore(startupLevels);
        }
        changes.forEach(JsonLogging::setLevel);
        text(req, 200, "current log level is " + currentLevels() + "\n");
    }

    /** The levels set, in Istio's filter syntax: {@code <logger>=<level>,...} then the root's level alone. */
    static String currentLevels() {
        StringBuilder out = new StringBuilder();
        String root = "off";
        for (Map.Entry<String, String> l : new java.util.TreeMap<>(JsonLogging.levels()).entrySet()) {
            String level = l.getValue().toLowerCase(java.util.Locale.ROOT);
            if ("root".equals(l.getKey())) {
                root = level;
            } else {
                out.append(l.getKey()).append('=').append(level).append(',');
            }
        }
        return out.append(root).toString();
    }

    private static void text(HttpServerRequest req, int status, String body) {
        req.response().setStatusCode(status).putHeader("content-type", "text/plain; charset=utf-8").end(body);
    }

    /**
     * The dump: {@code workloads}, {@code services}, {@code policies}, {@code certificates}, {@code trustBundle}
     * (version, source, roots with expiry, revoked serials, CRL nextUpdate), {@code config}; in in-pod mode
     * {@code workloadState} (each pod's proxy: {@code Up} or {@code Pending}, its name, namespace and service
     * account, its network namespace); with on-demand discovery {@code onDemand}, its subscriptions (bounded: see
     * {@link #MAX_LISTED_ALIASES}).
     */
    public JsonObject configDump() {
        JsonArray workloads = new JsonArray();
        JsonArray services = new JsonArray();
        java.util.Collection<Address> all = store.current().resources().values();
        Map<String, JsonObject> endpoints = IstioDump.endpoints(all.stream().filter(Address::hasWorkload)
                .map(Address::getWorkload).toList());
        for (Address a : all) {
            if (a.hasWorkload()) {
                workloads.add(IstioDump.workload(a.getWorkload()));
            } else {
                Service s = a.getService();
                services.add(IstioDump.service(s, endpoints.getOrDefault(s.getNamespace() + "/" + s.getHostname(),
                        new JsonObject())));
            }
        }
        JsonArray pols = new JsonArray();
        policies.get().forEach(p -> pols.add(IstioDump.policy(p)));
        JsonArray certs = new JsonArray();
        TrustSnapshot bundle = trust.get();
        identities.all().entrySet().stream().sorted(Map.Entry.comparingByKey(
                java.util.Comparator.comparing(SpiffeId::uri))).forEach(e -> certs.add(certificates(e.getKey(),
                        e.getValue(), bundle)));
        JsonObject dump = new JsonObject().put("workloads", workloads).put("services", services).put("policies", pols)
                .put("certificates", certs).put("trustBundle", trustBundle(bundle)).put("config", configJson)
                .put("version", new JsonObject().put("version", io.jmesh.core.lifecycle.ServiceLauncher.version())
                        .put("jvm_version", Runtime.version().toString()));
        Supplier<JsonObject> pods = workloadState;
        if (pods != null) {
            dump.put("workloadState", pods.get());
        }
        IntFunction<DeltaAdsClient.OnDemandState> subscriptions = onDemand;
        if (subscriptions != null) {
            dump.put("onDemand", onDemandJson(subscriptions.apply(MAX_LISTED_ALIASES)));
        }
        return dump;
    }

    /**
     * {@code subscribed} (names in all), {@code limit}, {@code byState} (pending, found, not_found, timeout),
     * {@code aliases} (name → state, at most {@link #MAX_LISTED_ALIASES}) and {@code omitted} (those not listed).
     */
    private static JsonObject onDemandJson(DeltaAdsClient.OnDemandState s) {
        return new JsonObject().put("subscribed", s.subscribed()).put("limit", s.limit())
                .put("byState", new JsonObject(new LinkedHashMap<>(s.byState())))
                .put("aliases", new JsonObject(new LinkedHashMap<>(s.listed())))
                .put("omitted", s.omitted());
    }

    /**
     * One identity's certificates in the shape of Istio's dump, which {@code istioctl ztunnel-config certificates}
     * reads: {@code certChain} (the leaf first, then any intermediates) and {@code rootCerts} (the trust bundle's
     * roots), each certificate as {@code pem} (the PEM text, base64-encoded as Istio's is), {@code serialNumber}
     * (decimal), {@code validFrom} and {@code expirationTime} (RFC 3339, seconds).
     */
    private static JsonObject certificates(SpiffeId id, WorkloadCertificate c, TrustSnapshot trust) {
        JsonArray chain = new JsonArray();
        c.chain().forEach(x -> chain.add(certificate(x)));
        JsonArray roots = new JsonArray();
        trust.roots().forEach(x -> roots.add(certificate(x)));
        return new JsonObject().put("identity", id.uri()).put("state", "Available").put("certChain", chain)
                .put("rootCerts", roots);
    }

    private static JsonObject certificate(java.security.cert.X509Certificate x) {
        return new JsonObject()
                .put("pem", java.util.Base64.getEncoder().encodeToString(
                        Pem.encode(List.of(x)).getBytes(java.nio.charset.StandardCharsets.US_ASCII)))
                .put("serialNumber", x.getSerialNumber().toString())
                .put("validFrom", x.getNotBefore().toInstant().truncatedTo(java.time.temporal.ChronoUnit.SECONDS)
                        .toString())
                .put("expirationTime", x.getNotAfter().toInstant()
                        .truncatedTo(java.time.temporal.ChronoUnit.SECONDS).toString());
    }

    private static JsonObject trustBundle(TrustSnapshot t) {
        JsonArray roots = new JsonArray();
        for (var r : t.roots()) {
            roots.add(new JsonObject().put("subject", r.getSubjectX500Principal().getName())
                    .put("serial", Certificates.serialHex(r))
                    .put("expirationTime", r.getNotAfter().toInstant().toString()));
        }
        JsonArray revoked = new JsonArray();
        t.revoked().stream().map(s -> s.toString(16)).sorted().forEach(revoked::add);
        return new JsonObject().put("version", t.version()).put("source", t.source()).put("roots", roots)
                .put("revokedSerials", revoked)
                .put("crlNextUpdate", t.crlNextUpdate() == null ? null : t.crlNextUpdate().toString());
    }
}
