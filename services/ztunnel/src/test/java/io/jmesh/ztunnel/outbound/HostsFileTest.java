package io.jmesh.ztunnel.outbound;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.core.lifecycle.ServiceLauncher;
import io.jmesh.core.tls.ReloadedFiles;
import io.netty.resolver.ResolvedAddressTypes;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import io.vertx.core.Vertx;
import java.net.InetAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.LoggerFactory;

/** The hosts file: its entries as Netty's resolver reads them, followed as the file changes, kept when it breaks. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HostsFileTest {

    /** Short, so a change is seen at once; the waits below poll with a deadline, never a fixed sleep. */
    static final Duration REFRESH = Duration.ofMillis(20);
    static final Duration DEADLINE = Duration.ofSeconds(30);

    static Vertx vertx;
    @TempDir
    Path dir;
    Path file;
    HostsFile hosts;
    PrometheusRegistry metrics = new PrometheusRegistry();
    ListAppender<ILoggingEvent> lines;

    @BeforeAll
    static void start() {
        vertx = ServiceLauncher.newVertx(1);
    }

    @AfterAll
    static void stop() throws Exception {
        vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
    }

    @BeforeEach
    void watchTheLog() {
        file = dir.resolve("hosts");
        lines = new ListAppender<>();
        lines.start();
        ((Logger) LoggerFactory.getLogger(ReloadedFiles.class)).addAppender(lines);
    }

    @AfterEach
    void close() {
        ((Logger) LoggerFactory.getLogger(ReloadedFiles.class)).detachAppender(lines);
        if (hosts != null) {
            hosts.close();
        }
    }

    @Test
    void namesMatchWithoutCaseOrAFinalDotAndBothFamiliesAreKept() throws Exception {
        Files.writeString(file, """
                # a comment
                127.0.0.7   Mixed.Hosts.Test alias
                127.0.0.8   mixed.hosts.test
                ::7         mixed.hosts.test
                not-an-ip   ignored.hosts.test
                """);
        hosts = new HostsFile(vertx, file, REFRESH, metrics);
        assertThat(hosts.addresses("mixed.hosts.test.", ResolvedAddressTypes.IPV4_PREFERRED))
                .containsExactly(ip("127.0.0.7"), ip("127.0.0.8"), ip("::7"));
        assertThat(hosts.addresses("MIXED.hosts.test", ResolvedAddressTypes.IPV6_PREFERRED))
                .containsExactly(ip("::7"), ip("127.0.0.7"), ip("127.0.0.8"));
        assertThat(hosts.addresses("mixed.hosts.test", ResolvedAddressTypes.IPV4_ONLY))
                .containsExactly(ip("127.0.0.7"), ip("127.0.0.8"));
        assertThat(hosts.addresses("mixed.hosts.test", ResolvedAddressTypes.IPV6_ONLY)).containsExactly(ip("::7"));
        assertThat(hosts.address("Alias", ResolvedAddressTypes.IPV6_PREFERRED)).isEqualTo(ip("127.0.0.7"));
        assertThat(hosts.address("alias", ResolvedAddressTypes.IPV6_ONLY)).isNull();
        assertThat(hosts.addresses("ignored.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED)).isNull();
        assertThat(hosts.addresses("unknown.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED)).isNull();
        assertThat(warnings()).isZero();
    }

    @Test
    void aRewrittenFileIsReadAgain() throws Exception {
        Files.writeString(file, "127.0.0.5 db.hosts.test\n");
        hosts = new HostsFile(vertx, file, REFRESH, metrics);
        assertThat(hosts.address("db.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED)).isEqualTo(ip("127.0.0.5"));

        // in place (same inode): its new content tells
        Files.writeString(file, "127.0.0.55 db.hosts.test\n::55 db.hosts.test\n127.0.0.6 new.hosts.test\n");
        await().atMost(DEADLINE).pollInterval(Duration.ofMillis(10)).untilAsserted(() -> assertThat(
                hosts.addresses("db.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED))
                .containsExactly(ip("127.0.0.55"), ip("::55")));
        assertThat(hosts.address("new.hosts.test", ResolvedAddressTypes.IPV4_ONLY)).isEqualTo(ip("127.0.0.6"));
    }

    @Test
    void aFileThatCannotBeReadKeepsThePreviousEntriesWithOneWarning() throws Exception {
        Files.writeString(file, "127.0.0.5 db.hosts.test\n");
        hosts = new HostsFile(vertx, file, REFRESH, metrics);

        // not UTF-8: the whole file is refused, not its readable lines
        byte[] broken = "127.0.0.9 db.hosts.test # \u00e9\n".getBytes(StandardCharsets.ISO_8859_1);
        replace(broken);
        await().atMost(DEADLINE).pollInterval(Duration.ofMillis(10)).until(() -> warnings() == 1);
        assertThat(hosts.address("db.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED)).isEqualTo(ip("127.0.0.5"));
        checks(3); // unchanged since: not read again, nor warned about again
        assertThat(warnings()).isEqualTo(1);

        Files.delete(file);
        await().atMost(DEADLINE).pollInterval(Duration.ofMillis(10)).until(() -> warnings() == 2);
        assertThat(hosts.address("db.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED)).isEqualTo(ip("127.0.0.5"));
        checks(3);
        assertThat(warnings()).isEqualTo(2);
        List<ILoggingEvent> warned = lines.list.stream().filter(e -> e.getLevel() == Level.WARN)
                .filter(e -> e.getFormattedMessage().contains(file.toString())).toList();
        assertThat(warned.get(0).getFormattedMessage()).contains("hosts_file", "MalformedInputException");
        assertThat(warned.get(1).getFormattedMessage()).contains("hosts_file", "NoSuchFileException");
        assertThat(reloads("invalid")).as("counted: a broken file, then none").isEqualTo(2);
        assertThat(reloads("applied")).isZero();

        replace("127.0.0.10 db.hosts.test\n");
        await().atMost(DEADLINE).pollInterval(Duration.ofMillis(10)).untilAsserted(() -> assertThat(
                hosts.address("db.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED)).isEqualTo(ip("127.0.0.10")));
        assertThat(reloads("applied")).isEqualTo(1);
    }

    private double reloads(String outcome) {
        return ((io.prometheus.metrics.model.snapshots.CounterSnapshot) metrics.scrape().stream()
                .filter(m -> m.getMetadata().getName().equals("ztunnel_hosts_file_reloads")).findFirst().orElseThrow())
                .getDataPoints().stream().filter(d -> outcome.equals(d.getLabels().get("outcome")))
                .mapToDouble(io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot::getValue)
                .sum();
    }

    @Test
    void aFileMissingAtStartListsNothingUntilItAppears() throws Exception {
        hosts = new HostsFile(vertx, file, REFRESH, metrics);
        assertThat(hosts.addresses("db.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED)).isNull();
        checks(1);
        assertThat(warnings()).isEqualTo(1);

        replace("127.0.0.5 db.hosts.test\n");
        await().atMost(DEADLINE).pollInterval(Duration.ofMillis(10)).untilAsserted(() -> assertThat(
                hosts.address("db.hosts.test", ResolvedAddressTypes.IPV4_PREFERRED)).isEqualTo(ip("127.0.0.5")));
    }

    /**
     * Puts new contents in place at once (a rename): a check in between must not see the file half written, which
     * would be a file of its own.
     */
    private void replace(String text) throws Exception {
        replace(text.getBytes(StandardCharsets.UTF_8));
    }

    private void replace(byte[] contents) throws Exception {
        Path next = dir.resolve("hosts.next");
        Files.write(next, contents);
        Files.move(next, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    /** Runs {@code n} checks of the file now, one after the other, as the timer would. */
    private void checks(int n) throws Exception {
        for (int i = 0; i < n; i++) {
            hosts.check().toCompletionStage().toCompletableFuture().get(5, TimeUnit.SECONDS);
        }
    }

    /** Warnings about this test's file (other watchers in this JVM log through the same logger). */
    private long warnings() {
        return lines.list.stream().filter(e -> e.getLevel() == Level.WARN)
                .filter(e -> e.getFormattedMessage().contains(file.toString())).count();
    }

    private static InetAddress ip(String literal) throws Exception {
        return InetAddress.getByName(literal); // literals only: no lookup
    }
}
