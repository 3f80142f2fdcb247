package io.jmesh.policy;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.jmesh.core.config.AdminConfig;
import io.jmesh.core.configlog.ConfigKey;
import io.jmesh.core.lifecycle.ServiceContext;
import io.jmesh.policy.cli.PolicyCli;
import io.jmesh.policy.testing.FakeTokenReview;
import io.jmesh.policy.testing.TestPki;
import io.jmesh.testing.KafkaExtension;
import io.vertx.core.Vertx;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.api.io.TempDir;

/** The ConfigAdmin gRPC API through the operator CLI, against a replica on real Kafka. */
@Timeout(180)
class ConfigAdminCliTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    static final String ADMIN = "spiffe://cluster.local/ns/ops/sa/admin";

    @TempDir
    Path dir;
    Vertx vertx;
    TestPki pki;
    FakeTokenReview tokenReview;
    PolicyBootstrap policy;
    Path adminToken;
    Path userToken;

    @BeforeEach
    void setUp() throws Exception {
        vertx = Vertx.vertx();
        pki = TestPki.create(dir);
        tokenReview = new FakeTokenReview(vertx, pki).serviceToken("admin-token", ADMIN)
                .serviceToken("user-token", "spiffe://cluster.local/ns/shop/sa/dev");
        adminToken = Files.writeString(dir.resolve("admin.token"), "admin-token\n");
        userToken = Files.writeString(dir.resolve("user.token"), "user-token\n");
        String topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
        PolicyConfig config = new PolicyConfig("info", Duration.ofSeconds(5), new AdminConfig("127.0.0.1", 0),
                new PolicyConfig.Mesh("istio-system", "cluster.local", "Kubernetes", "cluster.local"),
                new PolicyConfig.Kafka(kafka.bootstrapServers(), topic, (short) 1),
                new PolicyConfig.Xds("127.0.0.1", 0, pki.certPem.toString(), pki.keyPem.toString(), 1000, Duration.ofSeconds(10)),
                new PolicyConfig.TokenReview("127.0.0.1", tokenReview.port(), pki.rootPem.toString(), "",
                        Duration.ofSeconds(5)),
                new PolicyConfig.ConfigAdmin(List.of(ADMIN)), new PolicyConfig.Manifests("", Duration.ofSeconds(1)),
                PolicyConfig.Kubernetes.OFF);
        policy = new PolicyBootstrap(config, ServiceContext.create(vertx));
        policy.start().toCompletionStage().toCompletableFuture().get(60, TimeUnit.SECONDS);
        policy.registry().ready().get(60, TimeUnit.SECONDS);
    }

    @AfterEach
    void tearDown() throws Exception {
        policy.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
        tokenReview.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
    }

    record Run(int status, String out, String err) {}

    Run cli(Path token, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        int status = new PolicyCli(new PrintStream(out, true, StandardCharsets.UTF_8),
                new PrintStream(err, true, StandardCharsets.UTF_8),
                Map.of("MESH_POLICY_SERVER", "127.0.0.1:" + policy.port(),
                        "MESH_POLICY_CA_FILE", pki.rootPem.toString(), "MESH_POLICY_TOKEN_FILE", token.toString()))
                .run(args);
        return new Run(status, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    @Test
    void applyADirectoryPrintsEachObjectAndFieldPathErrors() throws Exception {
        Path manifests = Files.createDirectory(dir.resolve("m"));
        Files.writeString(manifests.resolve("a.yaml"), """
                apiVersion: networking.istio.io/v1
                kind: WorkloadEntry
                metadata: {name: vm-1, namespace: shop}
                spec: {address: 127.0.10.5, node: node-a}
                ---
                apiVersion: v1
                kind: Service
                metadata: {name: broken, namespace: shop}
                spec: {ports: [{port: 80}, {port: 81}]}
                """);
        Files.writeString(manifests.resolve("b.yaml"), """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: get-only, namespace: shop}
                spec: {rules: [{to: [{operation: {methods: [GET]}}]}]}
                """);

        Run run = cli(adminToken, "apply", "-f", manifests.toString());

        assertThat(run.status()).as(run.err()).isEqualTo(1);
        assertThat(run.out()).contains("WorkloadEntry/shop/vm-1 created")
                .contains("Service/shop/broken rejected (" + manifests.resolve("a.yaml") + "#1)")
                .contains("  spec.ports[0].name: required when a service has more than one port")
                .contains("AuthorizationPolicy/shop/get-only created")
                .contains("  warning: spec.rules[0] dropped: ztunnel cannot enforce");
        await().atMost(Duration.ofSeconds(30)).until(() -> policy.registry().snapshot().size() == 2);
        assertThat(policy.registry().snapshot().get(ConfigKey.parse("WorkloadEntry/shop/vm-1")).getSource())
                .isEqualTo("admin-api:" + ADMIN);

        assertThat(cli(adminToken, "apply", "-f", manifests.resolve("b.yaml").toString()).out())
                .contains("AuthorizationPolicy/shop/get-only unchanged");

        Run deleted = cli(adminToken, "delete", "WorkloadEntry/shop/vm-1");
        assertThat(deleted.status()).isZero();
        assertThat(deleted.out()).contains("WorkloadEntry/shop/vm-1 deleted");
        await().atMost(Duration.ofSeconds(30)).until(() -> policy.registry().snapshot().size() == 1);
        assertThat(cli(adminToken, "delete", "WorkloadEntry/shop/vm-1").out()).contains("not found");
    }

    @Test
    void onlyAdminIdentitiesMayWrite() throws Exception {
        Path f = Files.writeString(dir.resolve("ns.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: x}\n");
        Run run = cli(userToken, "apply", "-f", f.toString());
        assertThat(run.status()).isEqualTo(2);
        assertThat(run.err()).contains("spiffe://cluster.local/ns/shop/sa/dev is not a config admin");
        assertThat(policy.registry().snapshot().size()).isZero();
    }

    @Test
    void usageErrorsAreExplained() {
        Run run = cli(adminToken, "delete", "just-a-name");
        assertThat(run.status()).isEqualTo(2);
        assertThat(run.err()).contains("'just-a-name' (expected: kind/namespace/name)");
        assertThat(cli(adminToken, "apply").err()).contains("apply needs -f <file|dir>");
    }
}
