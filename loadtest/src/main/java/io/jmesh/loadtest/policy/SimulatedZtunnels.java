package io.jmesh.loadtest.policy;

import io.jmesh.proto.envoy.service.discovery.v3.AggregatedDiscoveryServiceGrpcClient;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.vertx.core.Vertx;
import io.vertx.core.buffer.Buffer;
import io.vertx.core.http.HttpClientOptions;
import io.vertx.core.http.HttpVersion;
import io.vertx.core.net.PemTrustOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.client.GrpcClientRequest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;

/**
 * Many ztunnel-like delta ADS streams that hold nothing but counters: each subscribes to Address and
 * Authorization, ACKs every response, and reports when it has the whole snapshot and when a response carrying a
 * watched resource name has been acknowledged.
 */
final class SimulatedZtunnels implements AutoCloseable {

    static final String ADDRESS = "type.googleapis.com/istio.workload.Address";
    static final String AUTHORIZATION = "type.googleapis.com/istio.security.Authorization";
    private static final int STREAMS_PER_CLIENT = 20;

    /** One change being watched: which name, and when each stream ACKed a response carrying it. */
    static final class Watch {
        final String name;
        final long[] ackedAt;
        final CountDownLatch remaining;

        Watch(String name, int streams) {
            this.name = name;
            this.ackedAt = new long[streams];
            this.remaining = new CountDownLatch(streams);
        }
    }

    private final Vertx vertx;
    private final List<GrpcClient> clients = new ArrayList<>();
    private final long expectedAddresses;
    final CountDownLatch synced;
    private volatile Watch watch;
    private final int streams;

    SimulatedZtunnels(Vertx vertx, Path roots, int port, int streams, long expectedAddresses) throws Exception {
        this.vertx = vertx;
        this.streams = streams;
        this.expectedAddresses = expectedAddresses;
        this.synced = new CountDownLatch(streams);
        String pem = Files.readString(roots);
        SocketAddress server = SocketAddress.inetSocketAddress(port, "127.0.0.1");
        GrpcClient client = null;
        for (int i = 0; i < streams; i++) {
            if (i % STREAMS_PER_CLIENT == 0) {
                // a few streams per connection, many connections: closer to one connection per ztunnel
                client = GrpcClient.client(vertx, new HttpClientOptions().setSsl(true).setUseAlpn(true)
                        .setProtocolVersion(HttpVersion.HTTP_2).setVerifyHost(true)
                        // a ztunnel takes a 55k-resource snapshot: do not let 64 KiB windows pace it
                        .setInitialSettings(new io.vertx.core.http.Http2Settings().setInitialWindowSize(4 << 20))
                        .setHttp2ConnectionWindowSize(16 << 20)
                        .setTrustOptions(new PemTrustOptions().addCertValue(Buffer.buffer(pem))));
                clients.add(client);
            }
            open(client, server, i);
        }
    }

    void watch(Watch w) {
        this.watch = w;
    }

    private void open(GrpcClient client, SocketAddress server, int index) {
        String node = "node-" + index;
        long[] addresses = {0};
        boolean[] auth = {false};
        boolean[] done = {false};
        client.request(server, AggregatedDiscoveryServiceGrpcClient.DeltaAggregatedResources).onSuccess(call -> {
            call.headers().set("authorization", "Bearer token-" + node);
            call.write(DeltaDiscoveryRequest.newBuilder().setTypeUrl(ADDRESS).build());
            call.write(DeltaDiscoveryRequest.newBuilder().setTypeUrl(AUTHORIZATION).build());
            call.response().onSuccess(in -> in.handler(resp -> {
                if (!done[0]) {
                    if (ADDRESS.equals(resp.getTypeUrl())) {
                        addresses[0] += resp.getResourcesCount();
                    } else {
                        auth[0] = true;
                    }
                    if (addresses[0] >= expectedAddresses && auth[0]) {
                        done[0] = true;
                        synced.countDown();
                    }
                }
                ack(call, resp);
                Watch w = watch;
                if (w != null && w.ackedAt[index] == 0 && carries(resp, w.name)) {
                    w.ackedAt[index] = System.nanoTime();
                    w.remaining.countDown();
                }
            }));
        });
    }

    private static void ack(GrpcClientRequest<DeltaDiscoveryRequest, DeltaDiscoveryResponse> call,
            DeltaDiscoveryResponse resp) {
        call.write(DeltaDiscoveryRequest.newBuilder().setTypeUrl(resp.getTypeUrl()).setResponseNonce(resp.getNonce())
                .build());
    }

    private static boolean carries(DeltaDiscoveryResponse resp, String name) {
        for (Resource r : resp.getResourcesList()) {
            if (r.getName().equals(name)) {
                return true;
            }
        }
        return resp.getRemovedResourcesList().contains(name);
    }

    int streams() {
        return streams;
    }

    @Override
    public void close() {
        clients.forEach(GrpcClient::close);
    }
}
