package io.jmesh.core.logging;

import static org.assertj.core.api.Assertions.assertThat;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.LoggerContext;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

class JsonLinesAppenderTest {

    private final ObjectMapper json = new ObjectMapper();
    private final LoggerContext ctx = new LoggerContext();

    private Logger logger(JsonLinesAppender appender) {
        ctx.setMDCAdapter(new ch.qos.logback.classic.util.LogbackMDCAdapter()); // as SLF4J's binding sets it
        ctx.start();
        appender.setContext(ctx);
        appender.start();
        Logger l = ctx.getLogger("access");
        l.setLevel(Level.INFO);
        l.addAppender(appender);
        return l;
    }

    /** Every line of two logging threads arrives whole, each thread's in its order, with its key-values. */
    @Test
    void everyLineArrivesWholeAndInOrderPerThread() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        JsonLinesAppender appender = new JsonLinesAppender(100_000, synchronizedStream(out), JsonLinesAppender.NAP);
        Logger log = logger(appender);
        List<Thread> threads = new ArrayList<>();
        for (String name : List.of("a", "b")) {
            Thread t = new Thread(() -> {
                for (int i = 0; i < 5000; i++) {
                    log.atInfo().addKeyValue("thread", name).addKeyValue("i", i).log("connection complete");
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        appender.stop();
        String[] lines = out.toString(StandardCharsets.UTF_8).split("\n");
        assertThat(lines).hasSize(10_000);
        int[] next = new int[2];
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            assertThat(n.get("msg").asText()).isEqualTo("connection complete");
            int t = n.get("thread").asText().equals("a") ? 0 : 1;
            assertThat(n.get("i").asInt()).isEqualTo(next[t]++);
        }
        assertThat(appender.dropped()).isZero();
    }

    /**
     * A busy writer is not woken per line: after a round it naps (an hour here, so only stop ends it) and logging
     * threads do not ring meanwhile; stop writes what gathered.
     */
    @Test
    void loggingThreadsDoNotWakeABusyWriterPerLine() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        JsonLinesAppender appender = new JsonLinesAppender(1000, synchronizedStream(out), Duration.ofHours(1));
        Logger log = logger(appender);
        log.info("first");
        long deadline = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (out.size() == 0 && System.nanoTime() < deadline) {
            Thread.sleep(1);
        }
        assertThat(out.size()).isPositive();
        long rings = appender.rings();
        for (int i = 0; i < 100; i++) {
            log.info("line {}", i);
        }
        assertThat(appender.rings()).as("no ring while the writer naps after a round").isEqualTo(rings);
        appender.stop();
        assertThat(out.toString(StandardCharsets.UTF_8).split("\n")).hasSize(101);
    }

    /** A full queue drops lines instead of blocking, and the writer then says how many it dropped. */
    @Test
    @Timeout(60)
    void aFullQueueDropsAndTheWriterSaysHowMany() throws Exception {
        CountDownLatch release = new CountDownLatch(1);
        ByteArrayOutputStream written = new ByteArrayOutputStream();
        OutputStream stalled = new OutputStream() {
            @Override
            public void write(int b) {
                write(new byte[] {(byte) b}, 0, 1);
            }

            @Override
            public void write(byte[] b, int off, int len) {
                try {
                    release.await(); // stdout a pipe no one reads, until released
                } catch (InterruptedException e) {
                    Thread.currentThread().interrupt();
                }
                synchronized (written) {
                    written.write(b, off, len);
                }
            }
        };
        JsonLinesAppender appender = new JsonLinesAppender(4, stalled, JsonLinesAppender.NAP);
        Logger log = logger(appender);
        for (int i = 0; i < 100; i++) {
            log.info("line {}", i); // had it waited for the stalled output, this test would never end (@Timeout)
        }
        assertThat(appender.dropped()).isPositive();
        release.countDown();
        appender.stop();
        String[] lines = written.toString(StandardCharsets.UTF_8).split("\n");
        long dropped = 0;
        int kept = 0;
        for (String line : lines) {
            JsonNode n = json.readTree(line);
            if (n.get("msg").asText().equals("log lines dropped")) {
                assertThat(n.get("level").asText()).isEqualTo("WARN");
                dropped += n.get("dropped").asLong();
            } else {
                kept++;
            }
        }
        assertThat(dropped).isEqualTo(appender.dropped());
        assertThat(kept + dropped).isEqualTo(100);
    }

    private static OutputStream synchronizedStream(ByteArrayOutputStream out) {
        return new OutputStream() {
            @Override
            public void write(int b) {
                synchronized (out) {
                    out.write(b);
                }
            }

            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                synchronized (out) {
                    out.write(b, off, len);
                }
            }
        };
    }
}
