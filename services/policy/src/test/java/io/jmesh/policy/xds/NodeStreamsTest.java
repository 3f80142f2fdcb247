package io.jmesh.policy.xds;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class NodeStreamsTest {

    @Test
    void aNodesNewestStreamBeyondTheBoundReplacesItsOldestAndOtherNodesAreLeftAlone() {
        NodeStreams<String> streams = new NodeStreams<>(2);
        assertThat(streams.open("a", "a1")).isEmpty();
        assertThat(streams.open("a", "a2")).isEmpty();
        assertThat(streams.open("b", "b1")).isEmpty();
        assertThat(streams.open("a", "a3")).containsExactly("a1");
        assertThat(streams.of("a")).isEqualTo(2);
        streams.closed("a", "a2");
        assertThat(streams.open("a", "a4")).as("a closed stream frees its slot").isEmpty();
        assertThat(streams.open("a", "a5")).containsExactly("a3");
        streams.closed("b", "b1");
        assertThat(streams.of("b")).isZero();
        streams.closed("b", "b1"); // twice: nothing
        assertThat(streams.of("a")).isEqualTo(2);
    }
}
