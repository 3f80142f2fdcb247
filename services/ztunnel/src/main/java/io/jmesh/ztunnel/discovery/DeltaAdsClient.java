package io.jmesh.ztunnel.discovery;

import com.google.protobuf.InvalidProtocolBufferException;
import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.jmesh.proto.envoy.config.core.v3.Node;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcClient;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.google.rpc.Status;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.AuthorizationStore;
import io.prometheus.metrics.core.metrics.Counter;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Supplier;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Istio's delta (incremental) ADS client to policy ({@code DeltaAggregatedResources}), subscribed (wildcard) to
 * {@code istio.workload.Address} and {@code istio.security.Authorization}.
 *
 * <p>Each response is applied as one batch: resources that fail to decode or validate are left out and named in
 * the NACK's {@code error_detail}, the valid ones are applied (Istio's behaviour); otherwise the nonce is ACKed. On
 * reconnect the subscription carries {@code initial_resource_versions} (every accepted name → version) so the
 * server sends only differences. Reconnects back off from {@code initialBackoff}, doubling to {@code maxBackoff},
 * reset by a good response. Through an outage the last good state keeps serving (nothing is cleared).
 *
 * <p>Authenticated as the node: {@code authorization: Bearer <token>}, {@code clusterid}. Runs on one Vert.x
 * context; state is touched only there.
 */
public final class DeltaAdsClient {

    public static final String ADDRESS_TYPE = io.jmesh.core.xds.XdsTypes.ADDRESS;
    public static final String AUTHORIZATION_TYPE = io.jmesh.core.xds.XdsTypes.AUTHORIZATION;

    private static final Logger log = LoggerFactory.getLogger(DeltaAdsClient.class);

    private final Vertx vertx;
    private final GrpcClient client;
    private final SocketAddress server;
    private final Supplier<String> token;
    private final ZtunnelConfig config;
    private final WorkloadStore store;
    private final AuthorizationStore policies;
    private final Counter messages;
    private final Counter messageBytes;
    private final Counter rejected;
    private final Counter terminations;
    private final Map<String, Map<String, String>> versions = new ConcurrentHashMap<>();
    private final Set<String> awaitingFirst = ConcurrentHashMap.newKeySet();
    private final Promise<Void> firstFull = Promise.promise();
    private Duration backoff;
    private volatile boolean stopped;
    private volatile GrpcClientRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse> call;

    public DeltaAdsClient(Vertx vertx, GrpcClient client, SocketAddress server, Supplier<String> token,
            ZtunnelConfig config, WorkloadStore store, AuthorizationStore policies, PrometheusRegistry metrics) {
        this.vertx = vertx;
        this.client = client;
        this.server = server;
        this.token = token;
        this.config = config;
        this.store = store;
        this.policies = policies;
        this.backoff = config.discovery().initialBackoff();
        // written on the client's context only; concurrent so that versions() can be read from any thread
        versions.put(ADDRESS_TYPE, new ConcurrentHashMap<>());
        versions.put(AUTHORIZATION_TYPE, new ConcurrentHashMap<>());
        awaitingFirst.add(ADDRESS_TYPE);
        awaitingFirst.add(AUTHORIZATION_TYPE);
        messages = Counter.builder().name("istio_xds_message_total").help("xDS responses received, by type")
                .labelNames("url").register(metrics);
        messageBytes = Counter.builder().name("istio_xds_message_bytes_total")
                .help("bytes of xDS responses received, by type").labelNames("url").register(metrics);
        rejected = Counter.builder().name("ztunnel_xds_rejected_resources_total")
                .help("xDS resources rejected (NACKed), by type").labelNames("url").register(metrics);
        for (String type : new String[] {ADDRESS_TYPE, AUTHORIZATION_TYPE}) {
            rejected.labelValues(type);
        }
        terminations = Counter.builder().name("istio_xds_connection_terminations_total")
                .help("xDS streams that ended, by reason").labelNames("reason").register(metrics);
    }

    /**
     * The gRPC client for policy: TLS verifying policy's certificate against {@code rootCertFile} (empty:
     * plaintext, tests only).
     */
    public static GrpcClient grpcClient(Vertx vertx, String rootCertFile) {
        HttpClientOptions o = new HttpClientOptions().setHttp2KeepAliveTimeout(30);
        if (!rootCertFile.isEmpty()) {
            o.setSsl(true).setUseAlpn(true).setTrustOptions(new PemTrustOptions().addCertPath(rootCertFile));
        }
        return GrpcClient.client(vertx, o);
    }

    /** Completes when both types have been received once (readiness). */
    public Future<Void> firstFullSync() {
        return firstFull.future();
    }

    public void start() {
        vertx.runOnContext(v -> connect());
    }

    public void stop() {
        stopped = true;
        var c = call;
        if (c != null) {
            c.cancel();
        }
    }

    /** Accepted versions by type and name (what a reconnect announces). */
    public Map<String, Map<String, String>> versions() {
        return versions;
    }

    private void connect() {
        if (stopped) {
            return;
        }
        client.request(server, AggregatedDiscoveryServiceGrpcClient.DeltaAggregatedResources).onSuccess(c -> {
            call = c;
            String t = token.get();
            if (!t.isEmpty()) {
                c.headers().set("authorization", "Bearer " + t);
            }
            c.headers().set("clusterid", config.node().clusterId());
            c.write(subscribe(ADDRESS_TYPE));
            c.write(subscribe(AUTHORIZATION_TYPE));
            c.response().onSuccess(resp -> {
                resp.handler(r -> onResponse(c, r));
                resp.exceptionHandler(e -> ended("error: " + e.getMessage(), true));
                resp.endHandler(v -> ended("server closed the stream: " + resp.status() + " "
                        + String.valueOf(resp.statusMessage()), resp.status() != io.vertx.grpc.common.GrpcStatus.OK));
            }).onFailure(e -> ended("stream failed: " + e.getMessage(), true));
        }).onFailure(e -> ended("connect failed: " + e.getMessage(), true));
    }

    private void ended(String why, boolean error) {
        terminations.labelValues(error ? "error" : "closed").inc();
        if (stopped) {
            return;
        }
        Duration wait = backoff;
        backoff = error ? min(backoff.multipliedBy(2), config.discovery().maxBackoff())
                : config.discovery().initialBackoff();
        log.atWarn().addKeyValue("server", server.toString()).addKeyValue("retryIn", wait.toString())
                .log("discovery stream ended ({}); keeping the last good configuration", why);
        vertx.setTimer(Math.max(1, wait.toMillis()), id -> connect());
    }

    private DeltaDiscoveryRequest subscribe(String type) {
        return DeltaDiscoveryRequest.newBuilder()
                .setNode(node())
                .setTypeUrl(type)
                .putAllInitialResourceVersions(versions.get(type))
                .build();
    }

    private Node node() {
        String ns = "istio-system";
        return Node.newBuilder()
                .setId("ztunnel~" + config.node().address() + "~ztunnel-" + config.node().name() + "." + ns + "~"
                        + ns + ".svc.cluster.local")
                .setMetadata(Struct.newBuilder()
                        .putFields("NODE_NAME", str(config.node().name()))
                        .putFields("NAME", str("ztunnel-" + config.node().name()))
                        .putFields("NAMESPACE", str(ns))
                        .putFields("INSTANCE_IPS", str(config.node().address()))
                        .putFields("CLUSTER_ID", str(config.node().clusterId())))
                .build();
    }

    private static Value str(String s) {
        return Value.newBuilder().setStringValue(s).build();
    }

    private void onResponse(GrpcClientRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse> c,
            DeltaDiscoveryResponse r) {
        String type = r.getTypeUrl();
        messages.labelValues(type).inc();
        messageBytes.labelValues(type).inc(r.getSerializedSize());
        List<String> errors = new ArrayList<>();
        Map<String, String> accepted = new LinkedHashMap<>();
        if (ADDRESS_TYPE.equals(type)) {
            Map<String, Address> upserts = new LinkedHashMap<>();
            for (Resource res : r.getResourcesList()) {
                try {
                    Address a = res.getResource().unpack(Address.class);
                    String problem = AddressValidator.problem(res.getName(), a);
                    if (problem != null) {
                        errors.add(problem);
                        continue;
                    }
                    upserts.put(res.getName(), a);
                    accepted.put(res.getName(), res.getVersion());
                } catch (InvalidProtocolBufferException e) {
                    errors.add(res.getName() + ": cannot decode as istio.workload.Address: " + e.getMessage());
                }
            }
            store.apply(upserts, r.getRemovedResourcesList());
        } else if (AUTHORIZATION_TYPE.equals(type)) {
            List<Authorization> upserts = new ArrayList<>();
            for (Resource res : r.getResourcesList()) {
                try {
                    Authorization a = res.getResource().unpack(Authorization.class);
                    String expected = a.getNamespace() + "/" + a.getName();
                    if (!expected.equals(res.getName())) {
                        errors.add(res.getName() + ": resource name differs from namespace/name '" + expected + "'");
                        continue;
                    }
                    // a policy this ztunnel cannot enforce is NACKed alone; the store would only skip it
                    String problem = AuthorizationStore.problem(a);
                    if (problem != null) {
                        errors.add(res.getName() + ": " + problem);
                        continue;
                    }
                    upserts.add(a);
                    accepted.put(res.getName(), res.getVersion());
                } catch (InvalidProtocolBufferException e) {
                    errors.add(res.getName() + ": cannot decode as istio.security.Authorization: " + e.getMessage());
                }
            }
            policies.apply(upserts, r.getRemovedResourcesList());
        } else {
            errors.add("unsubscribed type " + type);
        }
        Map<String, String> v = versions.get(type);
        if (v != null) {
            v.putAll(accepted);
            r.getRemovedResourcesList().forEach(v::remove);
        }
        DeltaDiscoveryRequest.Builder ack = DeltaDiscoveryRequest.newBuilder().setTypeUrl(type)
                .setResponseNonce(r.getNonce());
        if (!errors.isEmpty()) {
            rejected.labelValues(type).inc(errors.size());
            log.atWarn().addKeyValue("type", type).addKeyValue("nonce", r.getNonce())
                    .log("rejected {} resource(s): {}", errors.size(), String.join("; ", errors));
            ack.setErrorDetail(Status.newBuilder().setCode(3).setMessage(String.join("; ", errors)));
        }
        c.write(ack.build());
        backoff = config.discovery().initialBackoff();
        // a part of a split snapshot is not yet the full configuration: wait for the part that completes it
        if (!io.jmesh.core.xds.XdsTypes.partial(r.getSystemVersionInfo()) && awaitingFirst.remove(type)
                && awaitingFirst.isEmpty()) {
            log.info("first full configuration received from policy");
            firstFull.tryComplete();
        }
    }

    private static Duration min(Duration a, Duration b) {
        return a.compareTo(b) <= 0 ? a : b;
    }
}
