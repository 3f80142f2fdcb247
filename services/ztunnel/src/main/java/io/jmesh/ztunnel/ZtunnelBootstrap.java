package io.jmesh.ztunnel;

import io.jmesh.core.grpc.Http2Liveness;
import io.jmesh.core.identity.BearerTokenFile;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.kafka.EventPublisher;
import io.jmesh.core.lifecycle.MeshService;
import io.jmesh.core.lifecycle.ServiceContext;
import io.jmesh.core.tls.Pem;
import io.jmesh.core.admin.AdminServer;
import io.jmesh.core.tls.TlsPolicy;
import io.jmesh.proto.istio.workload.Workload;
import io.jmesh.ztunnel.admin.LocalAdmin;
import io.jmesh.ztunnel.authz.AuthorizationStore;
import io.jmesh.ztunnel.authz.Authorizer;
import io.jmesh.ztunnel.authz.IndexedAuthorizer;
import io.jmesh.ztunnel.capture.CaptureController;
import io.jmesh.ztunnel.capture.CaptureRules;
import io.jmesh.ztunnel.capture.Commands;
import io.jmesh.ztunnel.capture.PolicyRouting;
import io.jmesh.ztunnel.discovery.TeePolicies;
import io.jmesh.ztunnel.discovery.DeltaAdsClient;
import io.jmesh.ztunnel.discovery.PolicyChannel;
import io.jmesh.ztunnel.discovery.RetainedPolicies;
import io.jmesh.ztunnel.discovery.StaticConfigFile;
import io.jmesh.ztunnel.discovery.WorkloadIndex;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.jmesh.ztunnel.discovery.Workloads;
import io.jmesh.ztunnel.dns.DnsProxy;
import io.jmesh.ztunnel.dns.DnsMetrics;
import io.jmesh.ztunnel.dns.ResolvConf;
import io.jmesh.ztunnel.identity.CaClient;
import io.jmesh.ztunnel.identity.GrpcCaClient;
import io.jmesh.ztunnel.identity.IdentityManager;
import io.jmesh.ztunnel.inbound.Inbound;
import io.jmesh.ztunnel.inbound.InboundListeners;
import io.jmesh.ztunnel.outbound.HostnameResolver;
import io.jmesh.ztunnel.outbound.HostsFile;
import io.jmesh.ztunnel.outbound.OutboundListeners;
import io.jmesh.ztunnel.outbound.OutboundProxy;
import io.jmesh.ztunnel.pool.HbonePool;
import io.jmesh.ztunnel.pool.PoolMetrics;
import io.jmesh.ztunnel.inpod.InPodMode;
import io.jmesh.ztunnel.telemetry.ConnectionTelemetry;
import io.jmesh.ztunnel.telemetry.RefusalLogLimit;
import io.jmesh.ztunnel.tls.TrustBundle;
import io.jmesh.ztunnel.trust.CaConnectionTrust;
import io.jmesh.ztunnel.trust.RevokedConnections;
import io.jmesh.ztunnel.trust.TrustBundleWatcher;
import io.prometheus.metrics.core.metrics.Counter;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpServer;
import io.vertx.core.json.JsonObject;
import io.vertx.core.net.SocketAddress;
import io.vertx.core.net.TrustOptions;
import io.vertx.grpc.client.GrpcClient;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Clock;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Wires ztunnel together: discovery (static file and/or delta ADS) → workload store; identity manager (one
 * certificate per local workload identity); inbound listeners (15008, 15006), outbound listeners (15080, 15001)
 * over the HBONE pool; telemetry; the local admin (15000) and readiness (15021) servers; drain.
 */
public final class ZtunnelBootstrap implements MeshService {

    private static final Logger log = LoggerFactory.getLogger(ZtunnelBootstrap.class);
    /**
     * How long close waits for the connections it ended (their access-log lines and CLOSED events) and then the kept
     * CLOSED events may wait for room in the event publisher, together; the publisher's close then takes up to
     * {@link #PUBLISHER_CLOSE}: 4 s in all, within the launcher's 5 s for close.
     */
    private static final java.time.Duration LAST_EVENTS_OFFER = java.time.Duration.ofSeconds(1);
    /** The event publisher's close timeout: hand the queue over, flush, count the last failures. */
    private static final java.time.Duration PUBLISHER_CLOSE = java.time.Duration.ofSeconds(3);
    /** Of {@link #LAST_EVENTS_OFFER}, at most this for the ended connections' closes (on loopback, milliseconds). */
    private static final java.time.Duration ENDED_CONNECTIONS_WAIT = java.time.Duration.ofMillis(500);

    /** What tests (and a future authz/ca integration) can replace. */
    public record Collaborators(CaClient ca, Authorizer authorizer, AuthorizationStore policies, Clock clock,
            Runnable quit) {}

    private final ZtunnelConfig config;
    private final ServiceContext context;
    private final Collaborators collaborators;
    private final WorkloadStore store;
    private final RetainedPolicies retained = new RetainedPolicies();
    private volatile AuthorizationStore policyStore;
    private final InetAddress nodeAddress;
    /** {@code node.dualStackAddress}, or null. */
    private final InetAddress dualStackAddress;

    private TrustBundle trust;
    private IdentityManager identities;
    private EventPublisher events;
    private ConnectionTelemetry telemetry;
    /** The periodic progress report of open connections (Kafka on), or -1. */
    private long progressTimer = -1;
    private long rejectionLogTimer = -1;
    private HbonePool pool;
    private InboundListeners inbound;
    private OutboundListeners outbound;
    private LocalAdmin localAdmin;
    private HttpServer readinessServer;
    private DeltaAdsClient ads;
    /** Opened in {@link #start()} off the event loop (it reads the roots file); null without discovery. */
    private PolicyChannel policyChannel;
    private GrpcClient grpc;
    /** The HTTP/2 client under {@link #grpc} (ca): the gRPC client does not close it. */
    private io.vertx.core.http.HttpClientAgent caHttp;
    /** Connections to policy and ca dropped for an unanswered PING, by peer. */
    private Counter keepaliveTimeouts;
    private TrustBundleWatcher trustWatcher;
    private CaptureController capture;
    /** The first full configuration (static file, or policy's first complete answer): capture waits for it. */
    private final Promise<Void> firstConfig = Promise.promise();
    private DnsProxy dns;
    /** The DNS proxy on {@code node.dualStackAddress}, or null. */
    private DnsProxy dnsOtherFamily;
    /** Read in {@link #start()} off the event loop: name servers, search list and ndots. */
    private ResolvConf resolvConf;
    /** /etc/hosts, followed; opened in {@link #start()} off the event loop (its first read). */
    private HostsFile hostsFile;
    /** Connections the trust bundle's CRL ends, at their handshake or live. */
    private RevokedConnections revokedConnections;
    /** Resolves the service endpoints known by hostname only, for the node's and the pods' outbound. */
    private HostnameResolver hostnames;
    private volatile InPodMode inPod;
    /** Whether this kernel has IPv6 at all (capture then programs and listens for it too); read at the start. */
    private boolean hasIpv6;

    public ZtunnelBootstrap(ZtunnelConfig config, ServiceContext context) {
        this(config, context, null);
    }

    public ZtunnelBootstrap(ZtunnelConfig config, ServiceContext context, Collaborators collaborators) {
        this.config = config;
        this.context = context;
        this.collaborators = collaborators;
        this.store = new WorkloadStore(config.node().network());
        try {
            this.nodeAddress = InetAddress.getByName(config.node().address());
            this.dualStackAddress = config.node().dualStackAddress().isEmpty() ? null
                    : InetAddress.getByName(config.node().dualStackAddress());
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException("node.address: '" + config.node().address() + "' is not an address", e);
        }
    }

    @Override
    public void adminRoutes(AdminServer.Builder admin) {
        // 15020 carries /metrics (and the launcher's /healthz/ready); ztunnel's own admin is on 15000
    }

    @Override
    public Future<Void> start() {
        // file reads, YAML/proto parsing and loading BoringSSL take seconds on a cold JVM: off the event loop
        return context.vertx().executeBlocking(() -> {
            io.jmesh.core.tls.TlsPolicy.provider();
            if (config.inpod().enabled()) {
                InPodMode.preflight(); // loads JNA (extracts its native library) and checks CAP_SYS_ADMIN
            }
            if (!config.discovery().address().isEmpty()) {
                policyChannel = PolicyChannel.open(context.vertx(), config.discovery(), context.metrics(),
                        keepaliveTimeouts());
            }
            StaticConfigFile.Contents staticConfig = config.discovery().staticFile().isEmpty() ? null
                    : StaticConfigFile.read(Path.of(config.discovery().staticFile()));
            String resolvConfFile = config.dns().resolvConf();
            resolvConf = ResolvConf.read(Path.of(resolvConfFile.isEmpty() ? "/etc/resolv.conf" : resolvConfFile));
            hostsFile = new HostsFile(context.vertx(), HostsFile.SYSTEM, HostsFile.REFRESH_INTERVAL,
                    context.metrics());
            List<java.security.cert.X509Certificate> bundle = config.identity().trustBundleFile().isEmpty()
                    ? List.of() : Pem.certificates(read(config.identity().trustBundleFile()));
            // building the parts loads most of ztunnel's classes (~0.1 s on a quiet machine, seconds on a starved
            // one): here too, so the event loop only starts what is built
            return build(new StartFiles(staticConfig, bundle, ipv6()));
        }, false).compose(this::run).recover(this::abandonCapture);
    }

    /**
     * What the start reads from the file system, read on a worker before the parts are built.
     *
     * @param staticConfig the static mesh file's contents (null without one)
     * @param trustBundle the roots of {@code identity.trustBundleFile} (empty without one)
     * @param ipv6 whether this kernel has IPv6 at all
     */
    private record StartFiles(StaticConfigFile.Contents staticConfig,
            List<java.security.cert.X509Certificate> trustBundle, boolean ipv6) {}

    /**
     * A start that failed (a listener that cannot bind) closes the capture controller before failing: the process
     * then exits without {@link #close}. The rules are programmed only once every listener is bound, so such a start
     * has none to remove, and leaves those of a ztunnel still holding the ports in place.
     */
    private Future<Void> abandonCapture(Throwable cause) {
        CaptureController c = capture;
        if (c == null) {
            return Future.failedFuture(cause);
        }
        return c.close().transform(removed -> Future.failedFuture(cause));
    }

    /**
     * The parts {@link #build} made that {@link #run} starts, beyond those held in fields.
     *
     * @param upstreams the DNS proxy's and the hostname resolver's name servers
     * @param dnsMetrics the DNS proxy's metrics, or null without a DNS listener
     */
    private record Built(io.jmesh.core.admin.Readiness.Task certsReady,
            io.jmesh.core.admin.Readiness.Task configReady, Clock clock, List<java.net.InetSocketAddress> upstreams,
            DnsMetrics dnsMetrics, PoolMetrics poolMetrics) {}

    /**
     * Builds every part on a worker (the current context is still the event loop's, which the parts that keep one
     * capture) and puts the static file's workloads and policies in their stores: nothing is started, no timer set,
     * no socket bound. The future's completion publishes the fields to the event loop that {@link #run} runs on.
     */
    private Built build(StartFiles read) {
        StaticConfigFile.Contents staticConfig = read.staticConfig();
        hasIpv6 = read.ipv6();
        var vertx = context.vertx();
        var certsReady = context.readiness().register("certificates");
        var configReady = context.readiness().register("config");
        NetTransport net = NetTransport.of(vertx).withTcp(config.tcp());
        if (!net.epoll()) {
            log.warn("native epoll transport unavailable: using NIO (slower; no IP_TRANSPARENT)");
        }
        boolean capturing = config.listeners().transparent() && config.capture().enabled();
        if (capturing) {
            net = net.withSocketMark(config.capture().socketMark());
            capture = newCapture(context.readiness().register("capture"));
        }
        trust = new TrustBundle(read.trustBundle());
        Counter peerRejections = Counter.builder().name("ztunnel_peer_certificates_rejected_total")
                .help("peer certificate chains refused at the HBONE handshake, by direction and reason")
                .labelNames("direction", "reason").register(context.metrics());
        for (String direction : new String[] {"inbound", "outbound"}) {
            for (String reason : new String[] {"no_certificate", "untrusted", "revoked"}) {
                peerRejections.labelValues(direction, reason);  // zero series: dashboards and alerts see 0
            }
        }
        peerRejections.labelValues("inbound", "foreign_trust_domain");
        revokedConnections = new RevokedConnections(context.metrics());
        trust.rejections((direction, reason) -> {
            peerRejections.labelValues(direction, reason).inc();
            if (RevokedConnections.REVOKED.equals(reason)) {
                revokedConnections.rejectedAtHandshake(direction);
            }
        });
        // as Istio's ztunnel to istiod: PINGs drop a ca that went silent, so CSRs and the bundle watch retry
        caHttp = Http2Liveness.client(vertx, caGrpcOptions(), new Http2Liveness(vertx, config.identity().keepalive(),
                "ca", keepaliveTimeouts()));
        grpc = GrpcClient.client(vertx, caHttp);
        CaClient ca = collaborators != null && collaborators.ca() != null ? collaborators.ca() : defaultCa();
        Clock clock = collaborators != null && collaborators.clock() != null ? collaborators.clock() : Clock.systemUTC();
        identities = new IdentityManager(vertx, ca, trust, new IdentityManager.Settings(config.identity().certTtl(),
                config.identity().maxConcurrentCsrs(), config.identity().initialBackoff(),
                config.identity().maxBackoff(), config.node().trustDomain()), clock, context.metrics());
        events = EventPublisher.createWithWireProducer(config.kafka(), "ztunnel-" + config.node().name(),
                context.metrics());
        ZtunnelConfig.RejectionLog rejectionLog = config.telemetry().rejectionLog();
        telemetry = new ConnectionTelemetry(context.metrics(), events, config.kafka().enabled(), config.node().name(),
                config.telemetry().seriesIdleWindow(), new RefusalLogLimit(rejectionLog.linesPerInterval(),
                        rejectionLog.interval(), System::nanoTime), config.telemetry().removeLabels(), System::nanoTime);
        PoolMetrics poolMetrics = new PoolMetrics(context.metrics());
        pool = new HbonePool(vertx, net, config, poolMetrics);
        // in-pod mode: 15001/15006/15008 live in each pod (opened when the CNI node agent sends it), not on the node
        ZtunnelConfig nodeConfig = config.inpod().enabled() ? withoutCaptureListeners(config) : config;
        // Istio's L4 authorization, compiled from what discovery (or the static file) delivers: one index is both
        // the store discovery writes and the authorizer inbound reads, swapped atomically on each push
        IndexedAuthorizer index = new IndexedAuthorizer(context.metrics());
        Authorizer authorizer = collaborators != null && collaborators.authorizer() != null
                ? collaborators.authorizer() : index;
        AuthorizationStore enforced = collaborators != null && collaborators.policies() != null
                ? collaborators.policies() : index;
        // every push goes to the enforcing store and to the copy /config_dump shows
        AuthorizationStore policies = enforced == retained ? retained : new TeePolicies(enforced, retained);
        policyStore = policies;
        if (!config.discovery().address().isEmpty()) {
            ads = new DeltaAdsClient(vertx, policyChannel.grpc(), parse(config.discovery().address()),
                    BearerTokenFile.of(config.discovery().tokenFile()), config, store,
                    policies,
                    context.metrics());
            if (config.discovery().onDemand()) {
                // before any listener accepts, the node's or a pod's: each may need to ask for what it does not know
                store.demandFrom(ads::demand);
            }
        }
        inbound = Inbound.listeners(nodeConfig, store, identities, authorizer, telemetry, net, config.ownPorts(), nodeAddress,
                policies, pool::dialledFrom);
        // ztunnel's own sockets (its mark, the node's namespace), the DNS proxy's name servers and timeouts
        List<java.net.InetSocketAddress> upstreams = upstreams();
        if (upstreams.isEmpty()) {
            log.atWarn().addKeyValue("resolvConf", config.dns().resolvConf()).log("no upstream resolver (dns.upstreams "
                    + "empty, no nameserver in resolvConf): service endpoints known by hostname resolve from "
                    + HostsFile.SYSTEM + " only"
                    + (config.listeners().dns() >= 0 ? ", and the dns proxy answers SERVFAIL to names outside the mesh"
                            : ""));
        }
        hostnames = new HostnameResolver(net, new HostnameResolver.Settings(upstreams, resolvConf.searchDomains(),
                resolvConf.ndots(), config.dns().upstreamTimeout(), config.dns().upstreamAttempts()), hostsFile);
        OutboundProxy proxy = new OutboundProxy(nodeConfig, store, identities, pool, telemetry, net, hostnames);
        outbound = new OutboundListeners(nodeConfig, proxy, telemetry, net, nodeAddress);
        DnsMetrics dnsMetrics = config.listeners().dns() >= 0 ? new DnsMetrics(context.metrics(),
                new RefusalLogLimit(rejectionLog.linesPerInterval(), rejectionLog.interval(), System::nanoTime)) : null;
        localAdmin = new LocalAdmin(vertx, store, identities, retained::all,
                collaborators != null && collaborators.quit() != null ? collaborators.quit()
                        : () -> new Thread(() -> System.exit(0), "ztunnel-quit").start(),
                new JsonObject().put("node", config.node().name()).put("trustDomain", config.node().trustDomain()),
                trust::snapshot);
        if (nodeConfig.listeners().dns() >= 0) {
            dns = new DnsProxy(net, store, dnsSettings(nodeAddress, upstreams), dnsMetrics, null);
            if (dualStackAddress != null) {
                dnsOtherFamily = new DnsProxy(net, store, dnsSettings(dualStackAddress, upstreams), dnsMetrics, null);
            }
        }
        if (staticConfig != null) {
            // indexed and compiled here (the first time loads their classes); run() hands the workloads to the
            // parts that follow them
            store.replaceAll(staticConfig.addresses());
            policies.replaceAll(staticConfig.authorizations());
            log.atInfo().addKeyValue("file", config.discovery().staticFile())
                    .addKeyValue("resources", staticConfig.addresses().size())
                    .addKeyValue("authorizations", staticConfig.authorizations().size())
                    .log("static configuration loaded");
        }
        return new Built(certsReady, configReady, clock, upstreams, dnsMetrics, poolMetrics);
    }

    /** Starts what {@link #build} built, on the event loop: timers, discovery, the identity manager, listeners. */
    private Future<Void> run(Built built) {
        var vertx = context.vertx();
        DnsMetrics dnsMetrics = built.dnsMetrics();
        List<java.net.InetSocketAddress> upstreams = built.upstreams();
        identities.start();
        if (config.kafka().enabled()) {
            // one task for all connections, on a worker (it walks every open one); ordered: never two at once
            progressTimer = vertx.setPeriodic(Math.max(1, config.telemetry().progressInterval().toMillis()),
                    id -> vertx.executeBlocking(telemetry::reportProgress, true));
        }
        ZtunnelConfig.RejectionLog rejectionLog = config.telemetry().rejectionLog();
        // the summary of refusal lines left out goes out when their interval is over, even if none follow
        rejectionLogTimer = vertx.setPeriodic(Math.max(1, rejectionLog.interval().toMillis()), id -> {
            telemetry.reportSuppressedRejections();
            if (dnsMetrics != null) {
                DnsProxy.reportSuppressed(dnsMetrics);
            }
        });
        if (config.inpod().enabled()) {
            inPod = InPodMode.start(vertx, config, store, identities, telemetry, inbound, built.poolMetrics(),
                    dnsMetrics == null ? null : dnsSettings(nodeAddress, upstreams), dnsMetrics, hostnames,
                    context.readiness(), context.metrics(), this::refreshLocalIdentities);
            refreshLocalIdentities(); // pods added before inPod was set
        }

        java.util.function.BiConsumer<WorkloadIndex, WorkloadIndex> onWorkloads = (prev, next) -> {
            refreshLocalIdentities();
            pool.onWorkloadsChanged(next);
            inbound.sync(next);
            telemetry.expire(next);
            if (inPod != null) {
                inPod.onWorkloadsChanged(next);
            }
            if (capture != null) {
                capture.update(next);
            }
        };
        store.onChange(onWorkloads);
        // what build() put in the store (the static file's workloads), before anything listened
        onWorkloads.accept(null, store.current());

        if (ads != null) {
            ads.firstFullSync().onSuccess(v -> {
                built.configReady().complete();
                firstConfig.tryComplete();
            });
            ads.start();
        } else {
            built.configReady().complete();
            firstConfig.tryComplete();
        }
        if (config.discovery().onDemand() && inPod == null) {
            // no local workload is known up front (each arrives when first used, and its certificate is fetched
            // then): ready once discovery is (the first authorizations and the first Address response)
            built.certsReady().complete();
        } else {
            // in-pod mode knows its pods from the CNI agent even on demand: ready once their certificates are held
            watchCertificates(built.certsReady());
        }
        followTrustBundle(built.clock());
        String nodeHost = config.node().address();
        if (inPod != null) {
            localAdmin.workloadState(inPod::state);
        }
        if (ads != null && config.discovery().onDemand()) {
            localAdmin.onDemand(ads::onDemandState);
        }
        Future<Void> admin = config.listeners().localAdmin() >= 0 ? localAdmin.start(config.listeners().localAdmin())
                : Future.succeededFuture();
        Future<Void> ready = config.listeners().readiness() >= 0
                ? vertx.createHttpServer(AdminServer.plainHttpOptions(nodeHost, config.listeners().readiness()))
                        .requestHandler(req -> {
                            if ("/healthz/ready".equals(req.path())) {
                                AdminServer.readinessHandler(context.readiness()).handle(req);
                            } else {
                                req.response().setStatusCode(404).end("not found: " + req.path() + "\n");
                            }
                        }).listen().map(s -> {
                            readinessServer = s;
                            return null;
                        })
                : Future.succeededFuture();
        Future<Void> dnsStarted = Future.succeededFuture();
        if (dns != null) {
            dnsStarted = dns.start();
            if (dnsOtherFamily != null) {
                dnsStarted = Future.join(dnsStarted, dnsOtherFamily.start()).mapEmpty();
            }
        }
        // TPROXY hands a packet only to a socket of its own family: the capture listeners of the node address's
        // other family go on that family's loopback (when the kernel has it), where the rules point
        InetAddress twin = capture != null ? CaptureRules.twin(nodeAddress) : null;
        if (twin instanceof java.net.Inet6Address && !hasIpv6) {
            twin = null;
        }
        // join, not all: a failed start is reported (and closed) only once every bind has settled, so a listener
        // whose bind completes after another's failure is closed with the rest instead of staying open
        return Future.join(inbound.start(twin), outbound.start(twin), admin, ready, dnsStarted).<Void>mapEmpty()
                .onSuccess(v -> {
                    if (capture != null) {
                        // only now: a ztunnel that cannot bind (another still holds the ports) leaves the rules
                        // alone, and no pod is steered to a port before something listens there. And only with
                        // the first full configuration: a table left by a ztunnel that crashed still holds the
                        // node's ambient pods (and drops their traffic while nothing listens); replacing it with
                        // the pods known before any configuration (none) let their traffic out in plaintext
                        firstConfig.future().onSuccess(c -> capture.arm());
                    }
                });
    }

    /**
     * Every new trust snapshot closes live HBONE connections (inbound and pooled outbound) whose peer — or own —
     * certificate its CRL lists or, after a root was retired, whose peer no longer chains to a trusted root, and
     * re-issues such own certificates; then starts the ca's bundle stream.
     */
    private void followTrustBundle(Clock clock) {
        RevokedConnections revoked = revokedConnections;
        // the roots in force now (identity.trustBundleFile, or adopted from the ca's answers) count: a first bundle
        // from the ca that leaves one out retires it like any later one
        var lastRoots = new java.util.concurrent.atomic.AtomicReference<java.util.List<java.security.cert.X509Certificate>>(
                trust.roots());
        trust.onChange(snapshot -> {
            // a retired root: connections and own certificates that chain only to it are re-checked too
            java.util.List<java.security.cert.X509Certificate> before = lastRoots.getAndSet(snapshot.roots());
            boolean rootsRemoved = !snapshot.roots().isEmpty() && !snapshot.roots().containsAll(before);
            inbound.closeRevoked(snapshot, rootsRemoved, revoked);
            pool.closeRevoked(snapshot, rootsRemoved, revoked);
            if (inPod != null) {
                inPod.closeRevoked(snapshot, rootsRemoved, revoked);
            }
            identities.dropRevoked(snapshot, rootsRemoved);
        });
        var tb = config.identity().trustBundle();
        String address = tb.address().isEmpty() ? config.identity().caAddress() : tb.address();
        if (!tb.watch() || address.isEmpty()) {
            log.atInfo().log("not following ca's trust bundle (identity.trustBundle.watch off or no address): "
                    + "roots from identity.trustBundleFile or the ca's answers, no CRL");
            return;
        }
        trustWatcher = new TrustBundleWatcher(context.vertx(), grpc, new TrustBundleWatcher.Settings(parse(address),
                BearerTokenFile.of(config.identity().tokenFile()), config.node().clusterId(), tb.initialBackoff(),
                tb.maxBackoff()), trust, config.node().trustDomain(), identities::intermediates, clock,
                context.metrics());
        // ready only once the ca's bundle (roots and CRL) is in force: until then a revoked peer would be accepted
        var bundleReady = context.readiness().register("trust-bundle");
        trustWatcher.settled().onSuccess(v -> bundleReady.complete());
        trustWatcher.start();
    }

    /** Ready once every local workload identity has a certificate; checked every 200 ms until then. */
    private void watchCertificates(io.jmesh.core.admin.Readiness.Task task) {
        context.vertx().setPeriodic(1, 200, id -> {
            // only after the first full config and, in-pod, the agent's snapshot: then "every local identity" is
            // known, and the refresh each of them posted to the identity manager runs before the check below
            if (!localIdentitiesKnown()) {
                return;
            }
            identities.allWantedReady().onSuccess(ok -> {
                if (ok) {
                    task.complete();
                    context.vertx().cancelTimer(id);
                }
            });
        });
    }

    private boolean localIdentitiesKnown() {
        List<String> pending = context.readiness().pending();
        return !pending.contains("config") && !pending.contains(InPodMode.SNAPSHOT_TASK);
    }

    @Override
    public Future<Void> drain() {
        if (inbound == null) {
            return Future.succeededFuture();
        }
        inbound.stopAccepting(); // and GOAWAY to every inbound HBONE peer
        outbound.stopAccepting();
        pool.drain();
        if (inPod != null) {
            inPod.drain();
        }
        if (openHbone() == 0) {
            return Future.succeededFuture();
        }
        Promise<Void> done = Promise.promise();
        awaitDrained(done, 1);
        return done.future();
    }

    /**
     * Completes {@code done} once no HBONE connection is open, checking every 100 ms. One-shot timers: Vert.x 5.0
     * throws when a periodic timer with an initial delay is cancelled from its first run.
     */
    private void awaitDrained(Promise<Void> done, long delayMs) {
        context.vertx().setTimer(delayMs, id -> {
            log.atDebug().addKeyValue("inbound", inbound.openHboneConnections())
                    .addKeyValue("outbound", pool.openConnections())
                    .addKeyValue("pods", inPod == null ? 0 : inPod.openConnections()).log("draining: open hbone connections");
            if (openHbone() == 0) {
                done.tryComplete();
            } else if (!done.future().isComplete()) {
                awaitDrained(done, 100);
            }
        });
    }

    private int openHbone() {
        return inbound.openHboneConnections() + pool.openConnections() + (inPod == null ? 0 : inPod.openConnections());
    }

    /**
     * The node-level listeners of in-pod mode: no capture, HBONE, SOCKS5 or DNS ports on the node (admin and readiness
     * stay). Each pod's proxy opens its own DNS listener in the pod (from {@code config}'s port), as Istio's ztunnel,
     * which starts no node-level proxy in in-pod mode; the pods' traffic is redirected there, never to the node.
     */
    private static ZtunnelConfig withoutCaptureListeners(ZtunnelConfig c) {
        var l = c.listeners();
        return c.withInPod(c.inpod().off()).withListeners(new ZtunnelConfig.Listeners(-1, -1, -1, -1, l.localAdmin(),
                l.readiness(), -1, l.inboundPerWorkload(), l.transparent()));
    }

    @Override
    public Future<Void> close() {
        if (hostsFile != null) {
            hostsFile.close();
        }
        if (identities == null) {
            return Future.succeededFuture();
        }
        inbound.stopAccepting();
        outbound.stopAccepting();
        // the connections the drain left open (plain relays, which it does not wait for, tunnels past its deadline,
        // and those still being set up: a dial, a CONNECT waiting for its 200, an application connect): ended now,
        // before the pool and the pods close their sockets, so each closes as ended at shutdown (not as the pool's
        // close would fail a set-up), and its line and CLOSED are written before the publisher closes (Istio's
        // ztunnel records every connection it drops at shutdown)
        int ended = telemetry == null ? 0 : telemetry.endOpen();
        // stopping the agent link joins its thread, which may wait on an event loop: not on one
        Future<Void> pods = inPod == null ? Future.succeededFuture()
                : context.vertx().executeBlocking(() -> {
                    inPod.close();
                    return null;
                }, false);
        if (ads != null) {
            ads.stop();
        }
        if (policyChannel != null) {
            policyChannel.close();
        }
        if (trustWatcher != null) {
            trustWatcher.stop();
        }
        identities.stop();
        pool.close();
        if (hostnames != null) {
            hostnames.close();
        }
        if (rejectionLogTimer >= 0) {
            context.vertx().cancelTimer(rejectionLogTimer);
        }
        if (progressTimer >= 0) {
            context.vertx().cancelTimer(progressTimer);
        }
        // once the ended connections closed, their CLOSED events are out or kept. The kept ones get a last offer, then
        // the producer flushes; blocking all, so on a thread of its own (close() may run on an event loop), within
        // close's budget. Not a Vert.x worker: should the launcher stop waiting, it closes Vert.x, and the result
        // would then be handed to an event loop that is gone
        io.vertx.core.Promise<Void> lastEvents = io.vertx.core.Promise.promise();
        Thread last = new Thread(() -> {
            try {
                publishLastEvents(ended);
            } catch (RuntimeException e) {
                log.atWarn().setCause(e).log("last telemetry events at shutdown: {}", e.toString());
            } finally {
                lastEvents.tryComplete();
            }
        }, "ztunnel-last-events");
        last.setDaemon(true);
        last.start();
        Future<Void> published = lastEvents.future();
        Future<Void> r = readinessServer == null ? Future.succeededFuture() : readinessServer.close();
        Future<Void> rules = capture == null ? Future.succeededFuture() : capture.close();
        Future<Void> dnsClosed = Future.all(dns == null ? Future.succeededFuture() : dns.close(),
                dnsOtherFamily == null ? Future.succeededFuture() : dnsOtherFamily.close()).mapEmpty();
        Future<Void> caClosed = grpc.close().eventually(() -> caHttp.close());
        return Future.all(java.util.List.of(r, localAdmin.close(), caClosed, rules, dnsClosed, pods, published))
                .mapEmpty();
    }

    /** Shutdown: waits for the ended connections' closes, gives the kept CLOSED events a last offer, flushes. */
    private void publishLastEvents(int ended) {
        if (telemetry != null) {
            long start = System.nanoTime();
            int open = telemetry.awaitOpenEnded(ENDED_CONNECTIONS_WAIT);
            if (ended > 0 || open > 0) {
                log.atInfo().addKeyValue("ended", ended).addKeyValue("stillOpen", open)
                        .log("connections open at shutdown ended");
            }
            telemetry.stop(LAST_EVENTS_OFFER.minusNanos(System.nanoTime() - start));
        }
        if (events != null) {
            events.close(PUBLISHER_CLOSE);
        }
    }

    private CaptureController newCapture(io.jmesh.core.admin.Readiness.Task ready) {
        ZtunnelConfig.Capture c = config.capture();
        var l = config.listeners();
        CaptureRules rules = new CaptureRules(new CaptureRules.Settings(c.table(), c.socketMark(), c.captureMark(),
                c.podInterface(), l.outboundCapture(), l.hbone(), l.inboundPlaintext(), l.dns(), nodeAddress,
                dualStackAddress));
        PolicyRouting routing = new PolicyRouting(c.ipCommand(), c.captureMark(), c.routeTable(), hasIpv6);
        return new CaptureController(context.vertx(), config.node().name(), rules, routing,
                Commands.processes(c.commandTimeout()), c.nftCommand(), c.retryInterval(), ready, context.metrics(),
                c.removeOnExit());
    }

    /** Whether this kernel has IPv6 at all (capture then programs and listens for it too). */
    private static boolean ipv6() {
        return Files.isDirectory(Path.of("/proc/sys/net/ipv6"));
    }

    /** {@code dns.upstreams}, else the name servers of {@code dns.resolvConf}: the DNS proxy's and the resolver's. */
    private List<java.net.InetSocketAddress> upstreams() {
        ZtunnelConfig.Dns d = config.dns();
        return d.upstreams().isEmpty() ? resolvConf.nameservers() : DnsProxy.upstreams(d.upstreams());
    }

    private DnsProxy.Settings dnsSettings(InetAddress bindAddress, List<java.net.InetSocketAddress> upstreams) {
        ZtunnelConfig.Dns d = config.dns();
        return new DnsProxy.Settings(config.node().name(), bindAddress, config.listeners().dns(), d.clusterDomain(),
                d.tcpIdleTimeout(), upstreams, d.upstreamTimeout(), d.upstreamAttempts(), d.upstreamConcurrency(),
                d.maxPendingUpstream(),
                d.maxTcpConnections(), d.maxTcpConnectionsPerClient());
    }

    private CaClient defaultCa() {
        if (config.identity().caAddress().isEmpty()) {
            return (csr, id, ttl) -> Future.failedFuture("identity.caAddress is not configured: no certificates");
        }
        return new GrpcCaClient(context.vertx(), grpc, parse(config.identity().caAddress()),
                BearerTokenFile.of(config.identity().tokenFile()), config.node().clusterId(),
                config.identity().csrTimeout());
    }

    /** Registered once for both peers (start runs once; a second registration of the name would throw). */
    private synchronized Counter keepaliveTimeouts() {
        if (keepaliveTimeouts == null) {
            keepaliveTimeouts = Http2Liveness.counter(context.metrics(), "ztunnel");
            keepaliveTimeouts.labelValues("policy");
            keepaliveTimeouts.labelValues("ca");
        }
        return keepaliveTimeouts;
    }

    /** TLS to ca trusts identity.rootCertFile plus the current bundle's roots (ca's certificate follows rotations). */
    private HttpClientOptions caGrpcOptions() {
        String rootCertFile = config.identity().rootCertFile();
        return caGrpcOptions(rootCertFile.isEmpty() ? null : Pem.certificates(read(rootCertFile)), trust);
    }

    /**
     * Options of the connection to ca: TLS under the mesh's rules trusting {@code roots} and the bundle's, ca's host
     * name verified; plaintext HTTP/2 when {@code roots} is null (no {@code identity.rootCertFile}: tests, benchmarks).
     */
    static HttpClientOptions caGrpcOptions(java.util.List<java.security.cert.X509Certificate> roots,
            TrustBundle trust) {
        HttpClientOptions o = new HttpClientOptions().setHttp2KeepAliveTimeout(30);
        if (roots != null) {
            TlsPolicy.apply(o.setSsl(true).setUseAlpn(true).setVerifyHost(true)
                    .setTrustOptions(TrustOptions.wrap(new CaConnectionTrust(roots, trust))));
        }
        return o;
    }

    static SocketAddress parse(String hostPort) {
        int colon = hostPort.lastIndexOf(':');
        if (colon <= 0) {
            throw new IllegalArgumentException("address '" + hostPort + "' (expected: host:port)");
        }
        return SocketAddress.inetSocketAddress(Integer.parseInt(hostPort.substring(colon + 1)),
                hostPort.substring(0, colon).replace("[", "").replace("]", ""));
    }

    private static String read(String file) {
        try {
            return Files.readString(Path.of(file));
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + file, e);
        }
    }

    // accessors for tests and tools embedding ztunnel

    public WorkloadStore store() {
        return store;
    }

    public IdentityManager identities() {
        return identities;
    }

    public HbonePool pool() {
        return pool;
    }

    public InboundListeners inbound() {
        return inbound;
    }

    public OutboundListeners outbound() {
        return outbound;
    }

    /** In-pod mode, or null when {@code inpod.enabled} is off. */
    public InPodMode inPod() {
        return inPod;
    }

    /** The DNS proxy, or null when {@code listeners.dns} is off. */
    public DnsProxy dns() {
        return dns;
    }

    public LocalAdmin localAdmin() {
        return localAdmin;
    }

    public ConnectionTelemetry telemetry() {
        return telemetry;
    }

    /**
     * The identities whose certificates this node keeps: those of the workloads discovery places on this node, and in
     * in-pod mode those of the pods the CNI agent added (known before discovery names them, and with on-demand
     * discovery before their first connection). Read when the identity manager runs the refresh, so discovery's and
     * the agent link's requests converge on the latest of both.
     */
    private void refreshLocalIdentities() {
        identities.refreshLocalIdentities(() -> {
            Set<SpiffeId> local = new HashSet<>();
            for (Workload w : store.current().workloadsOnNode(config.node().name())) {
                if (WorkloadIndex.byAddress(w)) { // a host-network pod's traffic never passes through ztunnel
                    local.add(Workloads.identity(w, config.node().trustDomain()));
                }
            }
            InPodMode pods = inPod;
            if (pods != null) {
                local.addAll(pods.identities());
            }
            return local;
        });
    }

    /** Where discovery pushes authorization policies: the enforcing index and the copy {@code /config_dump} shows. */
    public AuthorizationStore policies() {
        return policyStore;
    }

    /** Bound port of the readiness server (15021, or the one picked for 0). */
    public int readinessPort() {
        return readinessServer == null ? -1 : readinessServer.actualPort();
    }

    public TrustBundle trust() {
        return trust;
    }

    /** The ca trust bundle stream; null when not followed. */
    public TrustBundleWatcher trustWatcher() {
        return trustWatcher;
    }

    ZtunnelConfig config() {
        return config;
    }
}
