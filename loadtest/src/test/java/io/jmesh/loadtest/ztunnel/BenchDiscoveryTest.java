package io.jmesh.loadtest.ztunnel;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.config.ConfigLoader;
import io.jmesh.ztunnel.ZtunnelConfig;
import io.jmesh.ztunnel.authz.IndexedAuthorizer;
import io.jmesh.ztunnel.discovery.DeltaAdsClient;
import io.jmesh.ztunnel.discovery.WorkloadStore;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import io.vertx.core.http.HttpServer;
import io.vertx.core.http.HttpServerOptions;
import io.vertx.core.net.SocketAddress;
import io.vertx.grpc.client.GrpcClient;
import io.vertx.grpc.server.GrpcServer;
import java.net.InetAddress;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The stand-in serves what the static mode would read, to ztunnel's real discovery client, which accepts it: the
 * as-deployed benchmarks then hold the same workloads and policies as the static ones.
 */
class BenchDiscoveryTest {

    @Test
    void ztunnelsDiscoveryClientTakesTheMeshFileOverTheStream(@TempDir Path dir) throws Exception {
        Path mesh = Files.writeString(dir.resolve("mesh.yaml"), """
                workloads:
                  - {uid: client, name: client, namespace: default, serviceAccount: client,
                     addresses: [127.0.210.11], node: node-a, tunnelProtocol: HBONE}
                  - {uid: server, name: server, namespace: default, serviceAccount: server,
                     addresses: [127.0.220.11], node: node-b, tunnelProtocol: HBONE}
                authorizations:
                  - {name: allow-all, namespace: default, action: ALLOW, rules: [{}]}
                """);
        BenchDiscovery discovery = new BenchDiscovery(mesh);
        Vertx vertx = Vertx.vertx();
        DeltaAdsClient client = null;
        try {
            GrpcServer grpc = GrpcServer.server(vertx);
            discovery.register(grpc);
            HttpServer http = vertx.createHttpServer(new HttpServerOptions().setHost("127.0.0.1").setPort(0))
                    .requestHandler(grpc).listen().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
            ZtunnelConfig config = ConfigLoader.load(ZtunnelConfig.class, "ztunnel", null,
                    Map.of("MESH_NODE_NAME", "node-a")).config();
            WorkloadStore store = new WorkloadStore();
            IndexedAuthorizer authorizer = new IndexedAuthorizer(new PrometheusRegistry());
            client = new DeltaAdsClient(vertx, GrpcClient.client(vertx),
                    SocketAddress.inetSocketAddress(http.actualPort(), "127.0.0.1"), () -> "", config, store,
                    authorizer, new PrometheusRegistry());
            client.start();
            long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(20);
            while ((store.current().workloadByIp(InetAddress.getByName("127.0.220.11")) == null
                    || authorizer.size() < 1) && System.nanoTime() < deadline) {
                Thread.sleep(20);
            }
            assertThat(store.current().workloadByIp(InetAddress.getByName("127.0.210.11")).getUid())
                    .isEqualTo("client");
            assertThat(store.current().workloadByIp(InetAddress.getByName("127.0.220.11")).getUid())
                    .isEqualTo("server");
            assertThat(authorizer.size()).isEqualTo(1);
            assertThat(discovery.nacks).isEmpty();
        } finally {
            if (client != null) {
                client.stop();
            }
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
