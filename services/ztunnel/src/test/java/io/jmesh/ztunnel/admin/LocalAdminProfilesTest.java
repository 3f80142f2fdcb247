package io.jmesh.ztunnel.admin;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import io.vertx.core.Vertx;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import jdk.jfr.consumer.RecordingFile;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Istio's {@code /debug/pprof/profile} and {@code /debug/pprof/heap} on the real admin port: a CPU profile and the
 * heap by class in pprof's format, which an independent pprof reader (Datadog's {@code pprof-format}, from npm, run
 * by Node.js) decodes, or the JVM's formats (a flight recording the JDK's reader opens, an HPROF dump); one of each at
 * a time, bad parameters refused by name, and no temporary file left behind.
 */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class LocalAdminProfilesTest {

    final HttpClient http = HttpClient.newHttpClient();
    Vertx vertx;
    LocalAdmin admin;

    @TempDir
    Path dir;

    @BeforeEach
    void start() throws Exception {
        vertx = Vertx.vertx();
        admin = LocalAdminLoggingTest.startedEmpty(vertx);
    }

    @AfterEach
    void stop() throws Exception {
        admin.close().await(10, TimeUnit.SECONDS);
        vertx.close().await(10, TimeUnit.SECONDS);
    }

    @Test
    void withFormatJfrACpuProfileIsAFlightRecordingOfTheSecondsAskedFor() throws Exception {
        List<Path> before = temporaries("ztunnel-profile-");
        long start = System.nanoTime();
        CompletableFuture<HttpResponse<byte[]>> profile = get("/debug/pprof/profile?seconds=1&format=jfr");
        org.awaitility.Awaitility.await().atMost(java.time.Duration.ofSeconds(10)).until(() -> jdk.jfr.FlightRecorder
                .getFlightRecorder().getRecordings().stream()
                .anyMatch(r -> r.getName().equals("ztunnel /debug/pprof/profile")));
        HttpResponse<String> second = http.send(request("/debug/pprof/profile?seconds=1"),
                HttpResponse.BodyHandlers.ofString());
        assertThat(second.statusCode()).as("one profile at a time").isEqualTo(409);

        HttpResponse<byte[]> answer = profile.get(30, TimeUnit.SECONDS);
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(System.nanoTime() - start).as("recorded for the second asked for").isGreaterThan(1_000_000_000L);
        assertThat(answer.headers().firstValue("content-disposition")).get().asString().endsWith(".jfr\"");
        assertThat(Arrays.copyOf(answer.body(), 4)).as("JFR's magic")
                .isEqualTo("FLR\0".getBytes(StandardCharsets.US_ASCII));
        Path file = dir.resolve("profile.jfr");
        Files.write(file, answer.body());
        assertThat(RecordingFile.readAllEvents(file)).as("the JDK reads it").isNotEmpty();
        org.awaitility.Awaitility.await("its file deleted once sent").atMost(java.time.Duration.ofSeconds(10))
                .until(() -> temporaries("ztunnel-profile-").equals(before));

        assertThat(get("/debug/pprof/profile?seconds=1").get(30, TimeUnit.SECONDS).statusCode())
                .as("another once the first is done").isEqualTo(200);
    }

    @Test
    void aCpuProfileIsInPprofsFormatAsIstiosZtunnelAnswers() throws Exception {
        List<Path> before = temporaries("ztunnel-profile-");
        long deadline = System.nanoTime() + 4_000_000_000L;
        Thread busy = new Thread(() -> spin(deadline), "busy-loop");
        busy.start();
        HttpResponse<byte[]> answer;
        try {
            answer = get("/debug/pprof/profile?seconds=1").get(30, TimeUnit.SECONDS);
        } finally {
            busy.join();
        }
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("content-disposition")).get().asString().endsWith(".pb\"");
        Path file = dir.resolve("profile.pb");
        Files.write(file, answer.body());
        org.awaitility.Awaitility.await("the recording and the profile deleted once sent")
                .atMost(java.time.Duration.ofSeconds(10)).until(() -> temporaries("ztunnel-profile-").equals(before));

        io.vertx.core.json.JsonObject p = readWithPprofFormat(file);
        assertThat(p.getString("firstString")).isEmpty();
        assertThat(p.getJsonArray("sampleTypes").getList()).containsExactly("samples/count", "cpu/nanoseconds");
        assertThat(p.getString("periodType")).isEqualTo("cpu/nanoseconds");
        assertThat(p.getLong("period")).isEqualTo(Profiles.SAMPLE_PERIOD_MS * 1_000_000L);
        assertThat(p.getLong("durationNanos")).isGreaterThanOrEqualTo(1_000_000_000L);
        assertThat(p.getLong("timeNanos")).isGreaterThan(1_700_000_000L * 1_000_000_000L);
        assertThat(p.getInteger("samples")).isPositive();
        long count = p.getJsonArray("totals").getLong(0);
        assertThat(p.getJsonArray("totals").getLong(1)).as("each sample stands for one period of CPU time")
                .isEqualTo(count * Profiles.SAMPLE_PERIOD_MS * 1_000_000L);
        assertThat(p.getInteger("unresolved")).as("every location names a function").isZero();
        assertThat(p.getJsonArray("threads").getList()).contains("busy-loop");
        assertThat(p.getJsonArray("functions").getList())
                .contains("io.jmesh.ztunnel.admin.LocalAdminProfilesTest.spin");
    }

    /**
     * What an independent pprof decoder (Datadog's {@code pprof-format}, from npm, under Node.js:
     * {@code src/test/node/pprof-read.cjs}) reads in {@code profile}.
     */
    private static io.vertx.core.json.JsonObject readWithPprofFormat(Path profile) throws Exception {
        Path reader = Path.of("src/test/node/pprof-read.cjs").toAbsolutePath();
        String pkg = npmPackage("pprof-format@2.3.2");
        Process node = new ProcessBuilder("node", reader.toString(), pkg, profile.toString())
                .redirectErrorStream(true).start();
        String out = new String(node.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertThat(node.waitFor(30, TimeUnit.SECONDS)).isTrue();
        assertThat(node.exitValue()).as(out).isZero();
        return new io.vertx.core.json.JsonObject(out.trim());
    }

    /** Keeps a CPU busy until {@code deadline} ({@link System#nanoTime()}), for the profile to sample. */
    private static volatile long sink;

    private static void spin(long deadline) {
        long x = 0;
        while (System.nanoTime() < deadline) {
            for (int i = 0; i < 10_000; i++) {
                x = x * 31 + i;
            }
            sink = x;
        }
    }

    /**
     * The unpacked npm package {@code spec}, fetched once by the repository's {@code tools/npm-package.sh} (the npm
     * registry is reachable in CI); the test is skipped, saying why, where it cannot be fetched in two minutes.
     */
    private static String npmPackage(String spec) throws Exception {
        Process fetch = new ProcessBuilder("bash", Path.of("../../tools/npm-package.sh").toAbsolutePath().toString(),
                spec).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        boolean done = fetch.waitFor(120, TimeUnit.SECONDS); // its output is one line: the pipe cannot fill
        if (!done) {
            fetch.destroyForcibly();
        }
        String out = done ? new String(fetch.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim() : "";
        org.junit.jupiter.api.Assumptions.assumeTrue(done && fetch.exitValue() == 0 && !out.isEmpty(),
                "npm could not fetch " + spec + " (the independent pprof reader) from the npm registry");
        return out;
    }

    @Test
    void theHeapIsInPprofsFormatByClass() throws Exception {
        List<Path> before = temporaries("ztunnel-heap-");
        HttpResponse<byte[]> answer = get("/debug/pprof/heap").get(30, TimeUnit.SECONDS);
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(answer.headers().firstValue("content-disposition")).get().asString().endsWith(".pb\"");
        Path file = dir.resolve("heap.pb");
        Files.write(file, answer.body());
        org.awaitility.Awaitility.await("its file deleted once sent").atMost(java.time.Duration.ofSeconds(10))
                .until(() -> temporaries("ztunnel-heap-").equals(before));

        io.vertx.core.json.JsonObject p = readWithPprofFormat(file);
        assertThat(p.getString("firstString")).isEmpty();
        assertThat(p.getJsonArray("sampleTypes").getList()).containsExactly("inuse_objects/count", "inuse_space/bytes");
        assertThat(p.getString("periodType")).isEqualTo("space/bytes");
        assertThat(p.getInteger("unresolved")).isZero();
        assertThat(p.getJsonArray("threads").getList()).isEmpty();
        assertThat(p.getJsonArray("functions").getList()).contains("byte[]", "java.lang.String", "java.lang.Object[]",
                LocalAdmin.class.getName());
        assertThat(p.getInteger("samples")).isEqualTo(p.getJsonArray("functions").size()).isGreaterThan(1000);
        long bytes = p.getJsonArray("totals").getLong(1);
        assertThat(bytes).as("the live heap, at most what the JVM holds").isPositive()
                .isLessThanOrEqualTo(Runtime.getRuntime().totalMemory());
        assertThat(p.getJsonArray("totals").getLong(0)).isPositive();
    }

    @Test
    void typeDescriptorsAreNamedAsJavaWritesThem() {
        assertThat(PprofProfile.readable("[B")).isEqualTo("byte[]");
        assertThat(PprofProfile.readable("[[J")).isEqualTo("long[][]");
        assertThat(PprofProfile.readable("[Ljava.lang.String;")).isEqualTo("java.lang.String[]");
        assertThat(PprofProfile.readable("java.util.HashMap$Node")).isEqualTo("java.util.HashMap$Node");
        assertThatThrownBy(() -> PprofProfile.heap("Total 0 0\n")).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("class histogram: no class in it");
    }

    @Test
    void withFormatHprofTheHeapIsAnHprofDump() throws Exception {
        List<Path> before = temporaries("ztunnel-heap-");
        HttpResponse<byte[]> answer = get("/debug/pprof/heap?format=hprof").get(30, TimeUnit.SECONDS);
        assertThat(answer.statusCode()).isEqualTo(200);
        assertThat(new String(answer.body(), 0, 18, StandardCharsets.US_ASCII)).isEqualTo("JAVA PROFILE 1.0.2");
        assertThat(answer.body().length).isGreaterThan(1_000_000);
        org.awaitility.Awaitility.await("its file deleted once sent").atMost(java.time.Duration.ofSeconds(10))
                .until(() -> temporaries("ztunnel-heap-").equals(before));
    }

    @Test
    void badRequestsAreRefusedByName() throws Exception {
        for (String seconds : new String[] {"0", "61", "ten", "1.5"}) {
            HttpResponse<String> r = http.send(request("/debug/pprof/profile?seconds=" + seconds),
                    HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(seconds).isEqualTo(400);
            assertThat(r.body())
                    .contains("seconds: '" + seconds + "' (expected: a whole number of seconds from 1 to 60)");
        }
        for (String path : new String[] {"/debug/pprof/profile", "/debug/pprof/heap"}) {
            HttpResponse<String> r = http.send(HttpRequest.newBuilder(uri(path))
                    .POST(HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertThat(r.statusCode()).as(path).isEqualTo(405);
        }
        HttpResponse<String> svg = http.send(request("/debug/pprof/profile?seconds=1&format=svg"),
                HttpResponse.BodyHandlers.ofString());
        assertThat(svg.statusCode()).isEqualTo(400);
        assertThat(svg.body()).contains("format: 'svg' (expected: pprof or jfr)");
        HttpResponse<String> heapSvg = http.send(request("/debug/pprof/heap?format=svg"),
                HttpResponse.BodyHandlers.ofString());
        assertThat(heapSvg.statusCode()).isEqualTo(400);
        assertThat(heapSvg.body()).contains("format: 'svg' (expected: pprof or hprof)");
        assertThat(Profiles.seconds(null)).isEqualTo(10);
        assertThatThrownBy(() -> Profiles.seconds("-1")).hasMessageContaining("seconds: '-1'");
    }

    private CompletableFuture<HttpResponse<byte[]>> get(String path) {
        return http.sendAsync(request(path), HttpResponse.BodyHandlers.ofByteArray());
    }

    private HttpRequest request(String path) {
        return HttpRequest.newBuilder(uri(path)).GET().build();
    }

    private URI uri(String path) {
        return URI.create("http://127.0.0.1:" + admin.port() + path);
    }

    private static List<Path> temporaries(String prefix) throws Exception {
        try (Stream<Path> s = Files.list(Path.of(System.getProperty("java.io.tmpdir")))) {
            return s.filter(p -> p.getFileName().toString().startsWith(prefix)).sorted().toList();
        }
    }
}
