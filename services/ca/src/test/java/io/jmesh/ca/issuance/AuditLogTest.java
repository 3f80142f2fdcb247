package io.jmesh.ca.issuance;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import ch.qos.logback.classic.Level;
import ch.qos.logback.classic.Logger;
import ch.qos.logback.classic.spi.ILoggingEvent;
import ch.qos.logback.core.read.ListAppender;
import io.jmesh.ca.testing.CaClient;
import io.jmesh.ca.testing.CaServerExtension;
import io.jmesh.ca.testing.TestCsrs;
import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Certificates;
import io.jmesh.core.tls.Pem;
import io.vertx.core.Vertx;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.slf4j.LoggerFactory;

/** One structured audit line per decision: issued (with serial and notAfter) and refused (with the reason). */
@Timeout(60)
class AuditLogTest {

    static final String SLEEP = "spiffe://cluster.local/ns/default/sa/sleep";

    @RegisterExtension
    static CaServerExtension ca = CaServerExtension.builder().place("node-a", SpiffeId.parse(SLEEP)).build();

    private static Map<String, String> fields(ILoggingEvent e) {
        Map<String, String> m = new HashMap<>();
        e.getKeyValuePairs().forEach(kv -> m.put(kv.key, String.valueOf(kv.value)));
        return m;
    }

    @Test
    void everyDecisionIsOneStructuredLine() throws Exception {
        Logger audit = (Logger) LoggerFactory.getLogger("io.jmesh.ca.audit");
        ListAppender<ILoggingEvent> lines = new ListAppender<>();
        lines.start();
        Level before = audit.getLevel();
        audit.setLevel(Level.INFO);
        audit.addAppender(lines);
        Vertx vertx = Vertx.vertx();
        try (CaClient client = ca.client(vertx)) {
            var issued = client.createCertificate(ca.nodeToken("node-a"), TestCsrs.forIdentity(SLEEP).pem(), 3600,
                    SLEEP).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS);
            String serial = Certificates.serialHex(Pem.certificate(issued.getCertChain(0)));
            assertThatThrownBy(() -> client.createCertificate(ca.nodeToken("node-a"), TestCsrs.forIdentity(SLEEP)
                    .pem(), 0, SLEEP).toCompletionStage().toCompletableFuture().get(30, TimeUnit.SECONDS));

            List<ILoggingEvent> events = List.copyOf(lines.list);
            assertThat(events).hasSize(2);
            Map<String, String> ok = fields(events.get(0));
            assertThat(events.get(0).getFormattedMessage()).isEqualTo("certificate issued");
            assertThat(ok).containsEntry("outcome", "issued").containsEntry("callerNode", "node-a")
                    .containsEntry("identity", SLEEP).containsEntry("serial", serial).containsKey("notAfter")
                    .containsEntry("caller", "spiffe://cluster.local/ns/istio-system/sa/ztunnel");
            Map<String, String> refused = fields(events.get(1));
            assertThat(events.get(1).getFormattedMessage()).isEqualTo("certificate refused");
            assertThat(refused).containsEntry("outcome", "refused").containsEntry("reason", "invalid_validity")
                    .containsEntry("callerNode", "node-a");
            assertThat(refused.get("detail")).contains("validity_duration: 0");
        } finally {
            audit.detachAppender(lines);
            audit.setLevel(before);
            vertx.close().toCompletionStage().toCompletableFuture().get(10, TimeUnit.SECONDS);
        }
    }
}
