package io.jmesh.policy;

import io.jmesh.policy.testing.TestPki;
import io.jmesh.testing.KafkaExtension;
import io.jmesh.testing.ServiceJarContract;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The runnable {@code policy.jar} keeps the operator contract (see {@link ServiceJarContract}); it needs a config
 * log (a real broker) and its TLS material, and is ready once it has replayed the log.
 */
class PolicyJarIT extends ServiceJarContract {

    @RegisterExtension
    static final KafkaExtension kafka = new KafkaExtension();

    @Override
    protected String minimalConfig(Path dir) throws Exception {
        TestPki pki = TestPki.create(dir);
        return """
                admin: {host: 127.0.0.1, port: 0}
                drainDeadline: 2s
                kafka: {bootstrapServers: "%s", topic: "%s"}
                xds: {host: 127.0.0.1, port: 0, certFile: "%s", keyFile: "%s"}
                tokenReview: {caFile: "%s"}
                """.formatted(kafka.bootstrapServers(), topic(), pki.certPem, pki.keyPem, pki.rootPem);
    }

    private static String topic;

    private static synchronized String topic() {
        if (topic == null) {
            topic = KafkaExtension.uniqueTopic("config");
            kafka.createTopic(topic, 1, true);
        }
        return topic;
    }
}
