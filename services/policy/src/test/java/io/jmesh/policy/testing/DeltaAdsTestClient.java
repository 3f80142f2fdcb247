package io.jmesh.policy.testing;

import com.google.protobuf.Struct;
import com.google.protobuf.Value;
import io.jmesh.policy.auth.GrpcTls;
import io.jmesh.proto.envoy.config.core.v3.Node;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcClient;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.google.rpc.Status;
import io.vertx.core.Vertx;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.Predicate;

/**
 * A ztunnel-like delta ADS client for tests: subscribes to Address and Authorization with a bearer token, applies
 * responses, ACKs them, or NACKs those containing resources {@code reject} refuses (listing them in
 * {@code error_detail}, keeping the rest, as ztunnel does); on reconnect it sends what it holds as
 * {@code initial_resource_versions}.
 */
public final class DeltaAdsTestClient implements AutoCloseable {

    public static final String ADDRESS = "type.googleapis.com/istio.workload.Address";
    public static final String AUTHORIZATION = "type.googleapis.com/istio.security.Authorization";

    /** name → resource currently held, per type URL; survives reconnects. */
    public final Map<String, Map<String, Resource>> held = new ConcurrentHashMap<>();
    public final List<DeltaDiscoveryResponse> responses = new CopyOnWriteArrayList<>();
    public final List<String> nacked = new CopyOnWriteArrayList<>();
    public final CompletableFuture<io.vertx.grpc.common.GrpcStatus> ended = new CompletableFuture<>();
    /** The status message the stream ended with (set before {@link #ended} completes). */
    public volatile String endedMessage;

    private final GrpcClient client;
    private final SocketAddress server;
    private final String token;
    private final String claimedNode;
    private volatile Predicate<String> reject = name -> false;
    private volatile boolean onDemand;
    private volatile boolean compressed;
    private volatile GrpcClientRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse> call;
    // ACKs/NACKs not sent yet while acknowledgements are withheld (null: sent at once)
    private List<DeltaDiscoveryRequest> withheld;

    public DeltaAdsTestClient(Vertx vertx, TestPki pki, int port, String token, String claimedNode) {
        this.client = GrpcClient.client(vertx, GrpcTls.client(pki.roots));
        this.server = SocketAddress.inetSocketAddress(port, "127.0.0.1");
        this.token = token;
        this.claimedNode = claimedNode;
        held.put(ADDRESS, new ConcurrentHashMap<>());
        held.put(AUTHORIZATION, new ConcurrentHashMap<>());
    }

    public DeltaAdsTestClient rejecting(Predicate<String> names) {
        this.reject = names;
        return this;
    }

    /**
     * Subscribes to Address on demand, as Istio's ztunnel with {@code XDS_ON_DEMAND}: {@code *} subscribed and
     * unsubscribed in the first request (nothing), then {@link #subscribe} names.
     */
    public DeltaAdsTestClient onDemand() {
        this.onDemand = true;
        return this;
    }

    /** Sends its messages gzip-compressed ({@code grpc-encoding: gzip}), which no ztunnel does. */
    public DeltaAdsTestClient compressed() {
        this.compressed = true;
        return this;
    }

    /** Subscribes {@code names} (canonical names or aliases) of {@code type} on the open stream. */
    public void subscribe(String type, String... names) {
        call.write(DeltaDiscoveryRequest.newBuilder().setTypeUrl(type).addAllResourceNamesSubscribe(List.of(names))
                .build());
    }

    /** Starts from what {@code previous} holds (a ztunnel reconnecting after its stream broke). */
    public DeltaAdsTestClient holding(DeltaAdsTestClient previous) {
        previous.held.forEach((type, m) -> held.get(type).putAll(m));
        return this;
    }

    /** Opens a stream, subscribing to both types with whatever is held already. */
    public DeltaAdsTestClient connect() {
        client.request(server, AggregatedDiscoveryServiceGrpcClient.DeltaAggregatedResources).onSuccess(c -> {
            call = c;
            c.headers().set("authorization", "Bearer " + token);
            if (compressed) {
                c.encoding("gzip");
            }
            for (String type : List.of(ADDRESS, AUTHORIZATION)) {
                DeltaDiscoveryRequest.Builder b = DeltaDiscoveryRequest.newBuilder().setTypeUrl(type)
                        .setNode(Node.newBuilder().setId("ztunnel~127.0.0.1~ztunnel.istio-system")
                                .setMetadata(Struct.newBuilder().putFields("NODE_NAME",
                                        Value.newBuilder().setStringValue(claimedNode).build())));
                held.get(type).forEach((name, r) -> b.putInitialResourceVersions(name, r.getVersion()));
                if (onDemand && ADDRESS.equals(type)) {
                    b.addResourceNamesSubscribe("*").addResourceNamesUnsubscribe("*");
                }
                c.write(b.build());
            }
            c.response().onSuccess(resp -> resp.handler(this::onResponse).endHandler(v -> {
                // Vert.x reads grpc-message from the headers only (a trailers-only response), not from trailers
                String trailer = resp.trailers().get("grpc-message");
                endedMessage = resp.statusMessage() != null ? resp.statusMessage() : trailer == null ? null
                        : io.netty.handler.codec.http.QueryStringDecoder.decodeComponent(trailer,
                                java.nio.charset.StandardCharsets.UTF_8);
                ended.complete(resp.status());
            }).exceptionHandler(ended::completeExceptionally))
                    .onFailure(ended::completeExceptionally);
        }).onFailure(ended::completeExceptionally);
        return this;
    }

    private void onResponse(DeltaDiscoveryResponse r) {
        responses.add(r);
        Map<String, Resource> mine = held.computeIfAbsent(r.getTypeUrl(), t -> new ConcurrentHashMap<>());
        List<String> rejected = new ArrayList<>();
        for (Resource res : r.getResourcesList()) {
            if (reject.test(res.getName())) {
                rejected.add(res.getName());
            } else {
                mine.put(res.getName(), res);
            }
        }
        r.getRemovedResourcesList().forEach(mine::remove);
        DeltaDiscoveryRequest.Builder ack = DeltaDiscoveryRequest.newBuilder().setTypeUrl(r.getTypeUrl())
                .setResponseNonce(r.getNonce());
        if (!rejected.isEmpty()) {
            nacked.addAll(rejected);
            ack.setErrorDetail(Status.newBuilder().setCode(3).setMessage("rejected: " + String.join(", ", rejected)));
        }
        acknowledge(ack.build());
    }

    private synchronized void acknowledge(DeltaDiscoveryRequest ack) {
        if (withheld != null) {
            withheld.add(ack);
        } else {
            call.write(ack);
        }
    }

    /** Withholds every ACK/NACK from now on until {@link #sendAcks}: a ztunnel still applying its snapshot. */
    public synchronized DeltaAdsTestClient withholdingAcks() {
        if (withheld == null) {
            withheld = new ArrayList<>();
        }
        return this;
    }

    /** Sends the withheld ACKs/NACKs, in order, and every later one at once. */
    public synchronized void sendAcks() {
        List<DeltaDiscoveryRequest> pending = withheld == null ? List.of() : withheld;
        withheld = null;
        pending.forEach(call::write);
    }

    /** Cancels the stream (RST_STREAM), as a client that gave up waiting. */
    public synchronized void cancel() {
        if (call != null && !disconnected) {
            disconnected = true;
            call.cancel();
        }
    }

    public Set<String> names(String type) {
        return Set.copyOf(held.get(type).keySet());
    }

    /** name → version held, for comparing clients. */
    public Map<String, String> versions(String type) {
        Map<String, String> out = new java.util.TreeMap<>();
        held.get(type).forEach((k, v) -> out.put(k, v.getVersion()));
        return out;
    }

    /** Responses received so far of {@code type}. */
    public List<DeltaDiscoveryResponse> responsesOf(String type) {
        return responses.stream().filter(r -> r.getTypeUrl().equals(type)).toList();
    }

    /** Closes the stream; held resources stay for a reconnect. */
    public synchronized void disconnect() {
        if (call != null && !disconnected && !ended.isDone()) {
            disconnected = true;
            call.end();
        }
    }

    private boolean disconnected;

    @Override
    public void close() {
        disconnect();
        client.close();
    }
}
