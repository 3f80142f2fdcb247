package io.jmesh.policy.kubernetes;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import io.fabric8.kubernetes.api.model.NamespaceBuilder;
import io.fabric8.kubernetes.api.model.PodBuilder;
import io.fabric8.kubernetes.api.model.coordination.v1.Lease;
import io.fabric8.kubernetes.api.model.coordination.v1.LeaseBuilder;
import io.jmesh.core.configlog.ConfigLogWriter;
import io.jmesh.core.kubernetes.KubernetesApi;
import io.jmesh.core.kubernetes.KubernetesConnection;
import io.jmesh.policy.registry.PolicyRegistry;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.kubernetes.KubernetesApiServer;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.time.Duration;
import java.time.ZonedDateTime;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Who writes the cluster among policy's replicas: Lease-based election against fabric8's mock API server in CRUD
 * mode (leases stored and versioned, an update with a stale {@code resourceVersion} refused with 409), and two
 * replicas' Kubernetes sources writing into one config log on a real Kafka broker.
 */
@Timeout(120)
class LeaderElectionTest {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    static final String LEASES = "/apis/coordination.k8s.io/v1/namespaces/istio-system/leases";

    KubernetesApiServer k8s;
    KubernetesApi api;
    final List<AutoCloseable> closing = new ArrayList<>();

    @BeforeEach
    void setUp() {
        k8s = new KubernetesApiServer();
        api = KubernetesApi.create(new KubernetesConnection(k8s.url(), "", "", Duration.ofSeconds(10)));
    }

    @AfterEach
    void tearDown() throws Exception {
        for (int i = closing.size() - 1; i >= 0; i--) {
            closing.get(i).close();
        }
        k8s.close();
    }

    static LeaderElection.Settings settings(String identity) {
        // short terms for a test; the same order as the defaults (15 s, 10 s, 2 s)
        return new LeaderElection.Settings("istio-system", "jmesh-policy-kubernetes", identity,
                Duration.ofSeconds(3), Duration.ofSeconds(2), Duration.ofMillis(250));
    }

    Lease lease() {
        return k8s.client().leases().inNamespace("istio-system").withName("jmesh-policy-kubernetes").get();
    }

    /** Records what an election tells its replica. */
    static final class Events implements LeaderElection.Listener {
        final List<String> seen = new CopyOnWriteArrayList<>();
        final AtomicInteger leaders;
        final AtomicInteger most;

        /** {@code leaders}: how many replicas lead now, shared; {@code most}: the most that ever did at once. */
        Events(AtomicInteger leaders, AtomicInteger most) {
            this.leaders = leaders;
            this.most = most;
        }

        Events() {
            this(new AtomicInteger(), new AtomicInteger());
        }

        @Override
        public void leading() {
            seen.add("leading");
            most.accumulateAndGet(leaders.incrementAndGet(), Math::max);
        }

        @Override
        public void following() {
            seen.add("following");
            leaders.decrementAndGet();
        }

        @Override
        public void leaderSynced() {
            seen.add("leaderSynced");
        }

        boolean leads() {
            return !seen.isEmpty() && seen.stream().filter(s -> !s.equals("leaderSynced")).reduce((a, b) -> b)
                    .orElse("").equals("leading");
        }
    }

    @Test
    void ofThreeCandidatesStartedTogetherOneLeadsAtATime() throws Exception {
        AtomicInteger leaders = new AtomicInteger();
        AtomicInteger most = new AtomicInteger();
        List<Events> events = new ArrayList<>();
        for (String id : List.of("policy-a", "policy-b", "policy-c")) {
            Events e = new Events(leaders, most);
            events.add(e);
            LeaderElection election = new LeaderElection(api, settings(id), new PrometheusRegistry());
            closing.add(election);
            election.start(e);
        }
        await().atMost(Duration.ofSeconds(30)).until(() -> lease() != null && leaders.get() == 1);
        // the premise: the API server refuses an update from a stale read, so of two candidates one wins
        io.vertx.core.json.JsonObject read = api.get(LEASES + "/jmesh-policy-kubernetes").body();
        await().atMost(Duration.ofSeconds(30)).until(() -> !lease().getMetadata().getResourceVersion()
                .equals(read.getJsonObject("metadata").getString("resourceVersion")));
        assertThat(api.put(LEASES + "/jmesh-policy-kubernetes", read.put("spec", read.getJsonObject("spec").copy()
                .put("holderIdentity", "intruder"))).status()).isEqualTo(409);
        // a few terms' worth of renewals and contested rounds: never two holders
        long until = System.nanoTime() + Duration.ofSeconds(3).toNanos();
        while (System.nanoTime() < until) {
            Thread.sleep(50);
        }
        assertThat(most.get()).isEqualTo(1);
        String holder = lease().getSpec().getHolderIdentity();
        int leader = List.of("policy-a", "policy-b", "policy-c").indexOf(holder);
        assertThat(leader).isNotNegative();
        assertThat(events.get(leader).leads()).isTrue();
        assertThat(lease().getSpec().getLeaseDurationSeconds()).isEqualTo(3);
        assertThat(lease().getSpec().getRenewTime()).isNotNull();
    }

    @Test
    void aHolderThatStopsRenewingIsReplacedOnlyOnceItsTermHasRunOut() throws Exception {
        ZonedDateTime longAgo = ZonedDateTime.parse("2026-01-01T00:00:00.000000Z");
        k8s.client().leases().inNamespace("istio-system").resource(new LeaseBuilder().withNewMetadata()
                .withName("jmesh-policy-kubernetes").withNamespace("istio-system").endMetadata().withNewSpec()
                .withHolderIdentity("policy-gone").withLeaseDurationSeconds(3).withAcquireTime(longAgo)
                .withRenewTime(longAgo).withLeaseTransitions(3).endSpec().build()).create();
        Events events = new Events();
        LeaderElection election = new LeaderElection(api, settings("policy-b"), new PrometheusRegistry());
        closing.add(election);
        long started = System.nanoTime();
        election.start(events);
        await().atMost(Duration.ofSeconds(30)).until(events::leads);
        // the holder's renewTime is long past, but clocks need not agree: the record must stay unchanged for a
        // whole term as this replica sees it
        assertThat(Duration.ofNanos(System.nanoTime() - started)).isGreaterThanOrEqualTo(Duration.ofSeconds(3));
        assertThat(lease().getSpec().getHolderIdentity()).isEqualTo("policy-b");
        assertThat(lease().getSpec().getLeaseTransitions()).isEqualTo(4);
    }

    @Test
    void aLiveHolderKeepsItsLeaseAndTheCandidateWaits() throws Exception {
        Events first = new Events();
        LeaderElection a = new LeaderElection(api, settings("policy-a"), new PrometheusRegistry());
        closing.add(a);
        a.start(first);
        await().atMost(Duration.ofSeconds(30)).until(first::leads);
        Events second = new Events();
        LeaderElection b = new LeaderElection(api, settings("policy-b"), new PrometheusRegistry());
        closing.add(b);
        b.start(second);
        // several terms of renewals by the live holder
        long until = System.nanoTime() + Duration.ofSeconds(5).toNanos();
        while (System.nanoTime() < until) {
            Thread.sleep(100);
        }
        assertThat(second.seen).doesNotContain("leading");
        assertThat(lease().getSpec().getHolderIdentity()).isEqualTo("policy-a");
        assertThat(lease().getSpec().getLeaseTransitions()).isZero();
        // the holder leaves: the candidate takes over
        a.close();
        assertThat(first.seen).endsWith("following");
        await().atMost(Duration.ofSeconds(30)).until(second::leads);
        assertThat(lease().getSpec().getHolderIdentity()).isEqualTo("policy-b");
        assertThat(lease().getSpec().getLeaseTransitions()).isEqualTo(1);
        // and leaving releases the lease (an empty holder: the next candidate need not wait out the term)
        b.close();
        assertThat(second.seen).endsWith("following");
        assertThat(lease().getSpec().getHolderIdentity()).isEmpty();
        assertThat(lease().getSpec().getLeaseDurationSeconds()).isEqualTo(1);
    }

    @Test
    void onlyTheLeadingReplicaWritesTheClusterAndTheOtherTakesOverWhenItStops() throws Exception {
        String topic = KafkaExtension.uniqueTopic("config");
        kafka.createTopic(topic, 1, true);
        ConfigLogWriter writer = new ConfigLogWriter(kafka.bootstrapServers(), topic, "test-writer");
        closing.add(writer);
        PolicyRegistry registry = PolicyRegistry.start(kafka.bootstrapServers(), topic, "replica",
                KubernetesSourceTest.SETTINGS, new PrometheusRegistry());
        closing.add(registry);
        registry.ready().get(60, TimeUnit.SECONDS);
        k8s.client().namespaces().resource(new NamespaceBuilder().withNewMetadata().withName("shop").endMetadata()
                .build()).create();
        k8s.client().pods().inNamespace("shop").resource(pod("reviews-0", "10.244.1.5")).create();

        PrometheusRegistry metricsA = new PrometheusRegistry();
        PrometheusRegistry metricsB = new PrometheusRegistry();
        KubernetesSource a = source("policy-a", metricsA, writer, registry);
        a.synced().get(60, TimeUnit.SECONDS);
        KubernetesSource b = source("policy-b", metricsB, writer, registry);
        b.synced().get(60, TimeUnit.SECONDS); // ready: the leader says its lists are written
        assertThat(registry.state().addresses()).containsKey("Kubernetes//Pod/shop/reviews-0");
        assertThat(lease().getMetadata().getAnnotations()).containsEntry(LeaderElection.SYNCED, "true");
        assertThat(KubernetesSourceTest.counter(metricsB, "policy_kubernetes_lists", Map.of()))
                .as("the follower lists nothing").isZero();
        assertThat(KubernetesSourceTest.counter(metricsA, "policy_kubernetes_lists", Map.of("kind", "Pod")))
                .isEqualTo(1);

        // the leader stops (a rolling update): the other lists and watches from then on
        a.close();
        closing.remove(a);
        await().atMost(Duration.ofSeconds(30)).until(() -> KubernetesSourceTest.counter(metricsB,
                "policy_kubernetes_lists", Map.of("kind", "Pod", "outcome", "ok")) == 1);
        k8s.client().pods().inNamespace("shop").resource(pod("reviews-1", "10.244.1.6")).create();
        await().atMost(Duration.ofSeconds(30)).until(() -> registry.state().addresses()
                .containsKey("Kubernetes//Pod/shop/reviews-1"));
        assertThat(lease().getSpec().getHolderIdentity()).isEqualTo("policy-b");
    }

    KubernetesSource source(String identity, PrometheusRegistry metrics, ConfigLogWriter writer,
            PolicyRegistry registry) {
        LeaderElection election = new LeaderElection(api, settings(identity), metrics);
        KubernetesSource s = new KubernetesSource(api, "Kubernetes", List.of("Namespace", "Pod"), election, metrics);
        closing.add(s);
        s.start(KubernetesSourceTest.applier(writer, registry));
        return s;
    }

    static io.fabric8.kubernetes.api.model.Pod pod(String name, String ip) {
        return new PodBuilder().withNewMetadata().withName(name).withNamespace("shop").addToLabels("app", "reviews")
                .endMetadata().withNewSpec().withNodeName("node-a").endSpec().withNewStatus().withPhase("Running")
                .withPodIP(ip).endStatus().build();
    }
}
