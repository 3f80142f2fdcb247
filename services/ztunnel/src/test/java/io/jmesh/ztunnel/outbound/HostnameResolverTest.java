package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.testing.fuzz.LeakWatch;
import io.jmesh.ztunnel.testing.FakeDnsServer;
import io.jmesh.ztunnel.tunnel.NetTransport;
import io.netty.util.concurrent.Future;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.UnknownHostException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The resolver against a fake name server on loopback: resolv.conf's search list and ndots applied as glibc does,
 * and the hosts file answering before any name server. Each test has its own names, so the questions the server
 * records tell which names each lookup asked, in order.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostnameResolverTest {

    static final String DNS_IP = "127.0.131.53";
    static final List<String> SEARCH = List.of("a.test", "b.test");

    static Vertx vertx;
    static NetTransport net;
    static FakeDnsServer dns;
    @TempDir
    Path dir;
    HostsFile hosts;
    PrometheusRegistry metrics = new PrometheusRegistry();
    HostnameResolver resolver;

    @BeforeAll
    static void start() throws Exception {
        LeakWatch.reset();
        vertx = ServiceLauncher.newVertx(1);
        net = NetTransport.of(vertx);
        dns = new FakeDnsServer(DNS_IP)
                .answer("db.a.test", "127.0.131.10")
                .answer("cache.b.b.test", "127.0.131.11")
                .answer("lonely", "127.0.131.12")
                .answer("app.x.test", "127.0.131.13")
                .answer("svc.ns.x.b.test", "127.0.131.14")
                .answer("solo.a.test", "127.0.131.15")
                .answer("listed.test", "127.0.131.16")
                .answer("zero", "127.0.131.17")
                .answer("nought.b.test", "127.0.131.18")
                .answer("null.x.a.test", "127.0.131.19");
    }

    @AfterAll
    static void stop() throws Exception {
        dns.close();
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        assertThat(LeakWatch.leaks()).as("ByteBuf leaks").isEmpty();
    }

    @AfterEach
    void close() {
        if (resolver != null) {
            resolver.close();
        }
        if (hosts != null) {
            hosts.close();
        }
    }

    @Test
    void aNameWithFewerThanNdotsDotsIsAskedWithEachSearchDomainThenAsItIs() throws Exception {
        resolver = resolver(SEARCH, 2, List.of(dns.address()));
        assertThat(resolve("db")).containsExactly(ip("127.0.131.10"));
        assertThat(askedA("db")).containsExactly("db.a.test");

        assertThat(resolve("cache.b")).containsExactly(ip("127.0.131.11"));
        assertThat(askedA("cache.b")).containsExactly("cache.b.a.test", "cache.b.b.test");

        assertThat(resolve("lonely")).containsExactly(ip("127.0.131.12"));
        assertThat(askedA("lonely")).containsExactly("lonely.a.test", "lonely.b.test", "lonely");
    }

    @Test
    void aNameWithNdotsDotsIsAskedAsItIsFirst() throws Exception {
        resolver = resolver(SEARCH, 2, List.of(dns.address()));
        assertThat(resolve("app.x.test")).containsExactly(ip("127.0.131.13"));
        assertThat(askedA("app.x.test")).containsExactly("app.x.test");

        assertThat(resolve("svc.ns.x")).containsExactly(ip("127.0.131.14"));
        assertThat(askedA("svc.ns.x")).containsExactly("svc.ns.x", "svc.ns.x.a.test", "svc.ns.x.b.test");
    }

    @Test
    void withNdotsZeroEveryNameIsAskedAsItIsThenWithEachSearchDomain() throws Exception {
        resolver = resolver(SEARCH, 0, List.of(dns.address()));
        assertThat(resolve("zero")).containsExactly(ip("127.0.131.17"));
        assertThat(askedA("zero")).containsExactly("zero");

        assertThat(resolve("nought")).containsExactly(ip("127.0.131.18"));
        assertThat(askedA("nought")).containsExactly("nought", "nought.a.test", "nought.b.test");

        assertThat(resolve("null.x")).containsExactly(ip("127.0.131.19"));
        assertThat(askedA("null.x")).containsExactly("null.x", "null.x.a.test");

        Future<List<InetAddress>> f = resolver.resolve(net.nextLoop(), "nowhere").await();
        assertThat(f.cause()).isInstanceOf(UnknownHostException.class);
        assertThat(askedA("nowhere")).containsExactly("nowhere", "nowhere.a.test", "nowhere.b.test");

        Future<List<InetAddress>> absolute = resolver.resolve(net.nextLoop(), "nought.").await();
        assertThat(absolute.cause()).as("a final dot: as it is only").isInstanceOf(UnknownHostException.class);
    }

    @Test
    void aNameEndingInADotIsNeverExpanded() throws Exception {
        resolver = resolver(SEARCH, 2, List.of(dns.address()));
        Future<List<InetAddress>> f = resolver.resolve(net.nextLoop(), "solo.").await();
        assertThat(f.cause()).as("solo.a.test exists, solo does not").isInstanceOf(UnknownHostException.class);
        assertThat(askedA("solo")).containsExactly("solo");
    }

    @Test
    void aNameTheHostsFileListsIsAnsweredFromItWithEveryAddress() throws Exception {
        Path file = dir.resolve("hosts");
        Files.writeString(file, "127.0.131.20 listed.test\n127.0.131.21 listed.test\n::1 listed.test\n");
        hosts = new HostsFile(vertx, file, HostsFile.REFRESH_INTERVAL, metrics);
        resolver = new HostnameResolver(net, new HostnameResolver.Settings(List.of(dns.address()), SEARCH, 2,
                Duration.ofSeconds(1), 2), hosts);
        assertThat(resolve("LISTED.test")).containsExactly(ip("127.0.131.20"), ip("127.0.131.21"), ip("::1"));
        assertThat(askedA("listed")).as("no name server asked").isEmpty();

        // without a name server, only what the file lists resolves
        resolver.close();
        resolver = new HostnameResolver(net, new HostnameResolver.Settings(List.of(), List.of(), 1,
                Duration.ofSeconds(1), 2), hosts);
        assertThat(resolve("listed.test")).containsExactly(ip("127.0.131.20"), ip("127.0.131.21"), ip("::1"));
        assertThat(resolver.resolve(net.nextLoop(), "app.x.test").await().cause())
                .hasMessageContaining("no name server");
    }

    @Test
    void anNxdomainWithTheZonesSoaIsTheAnswerAsInIstioAndNoOtherServerIsAsked() throws Exception {
        // Istio's resolver (hickory's name server pool) stops at a negative answer that carries the zone's SOA,
        // authoritative flag or not; only one without SOA or NS sends it on to the next server
        dns.negativeWithSoa("gone.test");
        try (FakeDnsServer other = new FakeDnsServer("127.0.131.54").answer("gone.test", "127.0.131.30")) {
            resolver = resolver(SEARCH, 2, List.of(dns.address(), other.address()));
            Future<List<InetAddress>> f = resolver.resolve(net.nextLoop(), "gone.test").await();
            assertThat(f.cause()).as("the first server's NXDOMAIN stands").isInstanceOf(UnknownHostException.class);
            assertThat(dns.asked("A", "gone.test")).as("asked once").isEqualTo(1);
            assertThat(other.asked("A", "gone.test")).as("the second server").isZero();
        }
    }

    /**
     * As the DNS proxy's forwarder: a server that went silent is held down, so the lookups after it start with the
     * next server instead of each waiting out its timeout.
     */
    @Test
    void aServerThatWentSilentIsNotAskedFirstByTheLookupsAfterIt() throws Exception {
        try (FakeDnsServer dead = new FakeDnsServer("127.0.131.55").ignore("one.test").ignore("two.test");
                FakeDnsServer live = new FakeDnsServer("127.0.131.56").answer("one.test", "127.0.131.31")
                        .answer("two.test", "127.0.131.32")) {
            resolver = resolver(List.of(), 1, List.of(dead.address(), live.address()));
            assertThat(resolve("one.test.")).containsExactly(InetAddress.getByName("127.0.131.31"));
            assertThat(dead.asked("A", "one.test")).as("the first lookup asked the silent server").isEqualTo(1);
            assertThat(resolve("two.test.")).containsExactly(InetAddress.getByName("127.0.131.32"));
            assertThat(dead.asked("A", "two.test")).as("the second lookup went to the other server first").isZero();
        }
    }

    /** A resolver whose hosts file lists nothing. */
    private HostnameResolver resolver(List<String> search, int ndots, List<InetSocketAddress> servers)
            throws Exception {
        Path empty = Files.writeString(dir.resolve("hosts"), "");
        hosts = new HostsFile(vertx, empty, HostsFile.REFRESH_INTERVAL, metrics);
        return new HostnameResolver(net, new HostnameResolver.Settings(servers, search, ndots, Duration.ofSeconds(1),
                2), hosts);
    }

    private List<InetAddress> resolve(String name) throws Exception {
        return resolver.resolve(net.nextLoop(), name).get(10, TimeUnit.SECONDS);
    }

    /**
     * The names asked A for, {@code name} and names below it, in the order first asked (the resolver asks a
     * non-authoritative NXDOMAIN again, of the next try's server).
     */
    private static List<String> askedA(String name) {
        return dns.questions.stream().filter(q -> q.equals("A " + name) || q.startsWith("A " + name + "."))
                .map(q -> q.substring(2)).distinct().toList();
    }

    private static InetAddress ip(String literal) throws Exception {
        return InetAddress.getByName(literal); // literals only: no lookup
    }
}
