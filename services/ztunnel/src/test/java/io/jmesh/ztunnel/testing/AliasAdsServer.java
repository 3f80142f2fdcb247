package io.jmesh.ztunnel.testing;

import com.google.protobuf.Any;
import io.jmesh.core.xds.XdsTypes;
import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcService;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.NetworkAddress;
import io.jmesh.proto.istio.workload.Service;
import io.jmesh.proto.istio.workload.Workload;
import io.vertx.core.Future;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.grpc.server.GrpcServer;
import java.net.InetAddress;
import java.net.UnknownHostException;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentLinkedQueue;

/**
 * A scripted delta ADS server for on-demand tests, written from the proto: it holds a fixed set of {@code Address}
 * resources and answers every {@code Address} subscription with the resources its names match: by canonical name (a
 * workload's uid, a service's {@code namespace/hostname}), or by alias, which the resource then carries in
 * {@code aliases} (Istio's aliases: {@code network/IP} of a workload's addresses or a service's VIPs; a canonical name
 * is not repeated there, as policy does); a service comes with its endpoints, as Istio's server sends them. When
 * nothing matches, the name is among the removed resources (xDS: "does not exist"). A wildcard subscription (the first request
 * subscribing {@code *} without unsubscribing it) gets everything. {@code Authorization} is answered once, empty.
 * ACKs are recorded and otherwise ignored.
 */
public final class AliasAdsServer {

    public static final String ADDRESS = XdsTypes.ADDRESS;
    public static final String AUTHORIZATION = XdsTypes.AUTHORIZATION;

    private final Vertx vertx;
    private final Map<String, Address> resources;
    private HttpServer http;
    /** Every request received, ACKs included, in order. */
    public final ConcurrentLinkedQueue<DeltaDiscoveryRequest> requests = new ConcurrentLinkedQueue<>();

    public AliasAdsServer(Vertx vertx, Map<String, Address> resources) {
        this.vertx = vertx;
        this.resources = new LinkedHashMap<>(resources);
    }

    public Future<Integer> start() {
        GrpcServer grpc = GrpcServer.server(vertx);
        grpc.callHandler(AggregatedDiscoveryServiceGrpcService.DeltaAggregatedResources, call -> {
            int[] nonce = {0};
            call.handler(req -> {
                requests.add(req);
                if (!req.getResponseNonce().isEmpty()) {
                    return; // an ACK or NACK
                }
                DeltaDiscoveryResponse.Builder r = DeltaDiscoveryResponse.newBuilder().setTypeUrl(req.getTypeUrl())
                        .setNonce(req.getTypeUrl().substring(req.getTypeUrl().lastIndexOf('.') + 1) + "-"
                                + (++nonce[0]));
                if (ADDRESS.equals(req.getTypeUrl())) {
                    boolean wildcard = req.getResourceNamesSubscribeList().contains("*")
                            && !req.getResourceNamesUnsubscribeList().contains("*");
                    List<Resource> found = answer(req.getResourceNamesSubscribeList(), wildcard);
                    found.forEach(r::addResources);
                    // xDS "does not exist": a subscribed name nothing answers to is listed as removed
                    Set<String> answered = new java.util.HashSet<>();
                    found.forEach(x -> {
                        answered.add(x.getName());
                        answered.addAll(x.getAliasesList());
                    });
                    for (String n : req.getResourceNamesSubscribeList()) {
                        if (!n.equals("*") && !answered.contains(n)) {
                            r.addRemovedResources(n);
                        }
                    }
                }
                call.response().write(r.build());
            });
        });
        return vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0)).requestHandler(grpc)
                .listen().map(s -> {
                    http = s;
                    return s.actualPort();
                });
    }

    /** Subscription requests for {@code Address} (not ACKs), in order. */
    public List<DeltaDiscoveryRequest> addressSubscriptions() {
        return requests.stream().filter(r -> ADDRESS.equals(r.getTypeUrl()) && r.getResponseNonce().isEmpty())
                .toList();
    }

    /** Every name subscribed for {@code Address} so far (but {@code *}). */
    public Set<String> subscribed() {
        Set<String> out = new LinkedHashSet<>();
        for (DeltaDiscoveryRequest r : addressSubscriptions()) {
            for (String n : r.getResourceNamesSubscribeList()) {
                if (!n.equals("*")) {
                    out.add(n);
                }
            }
        }
        return out;
    }

    private List<Resource> answer(List<String> names, boolean wildcard) {
        Map<String, Set<String>> matched = new LinkedHashMap<>(); // resource name -> the aliases it answers
        for (var e : resources.entrySet()) {
            Set<String> own = aliases(e.getKey(), e.getValue());
            for (String n : names) {
                if (wildcard || own.contains(n)) {
                    matched.computeIfAbsent(e.getKey(), k -> new LinkedHashSet<>());
                    if (own.contains(n) && !n.equals(e.getKey())) {
                        matched.get(e.getKey()).add(n);
                    }
                    if (e.getValue().hasService()) {
                        // the service's endpoints come with it
                        for (var w : resources.entrySet()) {
                            if (w.getValue().hasWorkload()
                                    && w.getValue().getWorkload().getServicesMap().containsKey(e.getKey())) {
                                matched.computeIfAbsent(w.getKey(), k -> new LinkedHashSet<>());
                            }
                        }
                    }
                }
            }
        }
        List<Resource> out = new ArrayList<>();
        matched.forEach((name, aliases) -> out.add(Resource.newBuilder().setName(name).setVersion("1")
                .setResource(Any.pack(resources.get(name))).addAllAliases(aliases).build()));
        return out;
    }

    /** The names a resource answers to: its own, and its aliases. */
    public static Set<String> aliases(String name, Address a) {
        Set<String> out = new LinkedHashSet<>();
        out.add(name);
        if (a.hasWorkload()) {
            Workload w = a.getWorkload();
            for (var raw : w.getAddressesList()) {
                out.add(XdsTypes.ipAlias(w.getNetwork(), ip(raw.toByteArray())));
            }
        } else {
            Service s = a.getService();
            for (NetworkAddress na : s.getAddressesList()) {
                out.add(XdsTypes.ipAlias(na.getNetwork(), ip(na.getAddress().toByteArray())));
            }
            out.add(XdsTypes.hostnameAlias(s.getNamespace(), s.getHostname()));
        }
        return out;
    }

    private static InetAddress ip(byte[] raw) {
        try {
            return InetAddress.getByAddress(raw);
        } catch (UnknownHostException e) {
            throw new IllegalArgumentException(e);
        }
    }

    public Future<Void> close() {
        return http == null ? Future.succeededFuture() : http.close();
    }
}
