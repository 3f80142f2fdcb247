package io.jmesh.testing;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.nio.file.Path;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;

import org.junit.jupiter.api.RepeatedTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Registered on an instance field, the extension gives every test its own fresh broker. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class KafkaExtensionPerTestTest {

    private static final Set<Path> DATA_DIRS = ConcurrentHashMap.newKeySet();

    @RegisterExtension
    final KafkaExtension kafka = new KafkaExtension(b -> b.heap("192m"));

    @RepeatedTest(2)
    void everyTestGetsAFreshBroker() throws Exception {
        Path dir = kafka.broker().dataDir();
        assertThat(DATA_DIRS.add(dir)).as("data dir %s used once", dir).isTrue();
        assertThat(dir.toString()).contains("KafkaExtensionPerTestTest.everyTestGetsAFreshBroker");
        assertThat(kafka.admin().listTopics().names().get(30, TimeUnit.SECONDS)).isEmpty();
        kafka.createTopic(KafkaExtension.uniqueTopic("fresh"), 1, false);
    }

    @Test
    void restartKeepsAddressAndTopics() throws Exception {
        String topic = KafkaExtension.uniqueTopic("kept");
        kafka.createTopic(topic, 2, true);
        String before = kafka.bootstrapServers();
        long pid = kafka.broker().process().orElseThrow().pid();
        kafka.restart();
        assertThat(kafka.bootstrapServers()).isEqualTo(before);
        assertThat(kafka.broker().process().orElseThrow().pid()).isNotEqualTo(pid);
        assertThat(kafka.admin().listTopics().names().get(30, TimeUnit.SECONDS)).contains(topic);
    }

    @Test
    void aBrokerThatCannotStartFailsWithItsLog() {
        KafkaExtension broken = new KafkaExtension(b -> b.heap("1m"));
        assertThatThrownBy(() -> broken.start("broken"))
                .isInstanceOf(IllegalStateException.class)
                .hasMessageContaining("could not start a Kafka broker for broken")
                .hasMessageContaining("exited before it was ready")
                .hasMessageContaining("heap");
        assertThatThrownBy(broken::bootstrapServers).hasMessageContaining("no Kafka broker");
        broken.stop();
    }
}
