package io.jmesh.core.logging;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Map;
import org.junit.jupiter.api.Test;

class JsonLoggingTest {

    /**
     * Chatty libraries start quiet: Kafka's clients at WARN, and Netty's note, at every new BoringSSL context, that
     * TLS 1.3 suites cannot be narrowed (one line per workload certificate in ztunnel) at WARN too.
     */
    @Test
    void chattyLoggersStartAtWarn() {
        Map<String, String> before = JsonLogging.levels();
        try {
            JsonLogging.install("info");
            assertThat(JsonLogging.levels()).containsEntry("root", "INFO")
                    .containsEntry("org.apache.kafka", "WARN").containsEntry("io.netty", "INFO")
                    .containsEntry(JsonLogging.OPENSSL_CONTEXT, "WARN");
        } finally {
            JsonLogging.restore(before);
        }
    }
}
