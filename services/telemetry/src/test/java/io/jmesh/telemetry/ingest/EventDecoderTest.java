package io.jmesh.telemetry.ingest;

import static org.assertj.core.api.Assertions.assertThat;

import io.jmesh.proto.telemetry.v1.Reporter;
import io.jmesh.telemetry.Events;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;
import java.util.stream.Stream;

class EventDecoderTest {

    private final EventDecoder decoder = new EventDecoder("l4", "l7");

    static Stream<Arguments> rejected() {
        byte[] good = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews").toByteArray();
        return Stream.of(
                Arguments.of("null value", "l4", null, "empty_record"),
                Arguments.of("truncated varint", "l4", new byte[] {(byte) 0xff, (byte) 0xff}, "undecodable"),
                Arguments.of("no schema version", "l4", new byte[] {0x18, 0x01}, "unknown_schema_version"),
                Arguments.of("unknown topic", "other", good, "unknown_topic"),
                Arguments.of("a kind of a newer writer", "l4", Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews").toBuilder().setKindValue(99).build().toByteArray(), "invalid_field"),
                Arguments.of("response code out of range", "l7", Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews", 200, 1).toBuilder().setResponseCode(1200).build().toByteArray(),
                        "invalid_field"),
                Arguments.of("label longer than a checkpoint holds", "l4", Events.opened(Reporter.SOURCE,
                        Events.PRODUCTPAGE.toBuilder().setWorkloadName("w".repeat(70_000)).build(), Events.REVIEWS,
                        "reviews").toByteArray(), "invalid_field"),
                Arguments.of("bytes_sent above Long.MAX_VALUE", "l4", Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews", -1L, 0).toByteArray(), "invalid_field"),
                Arguments.of("negative duration", "l7", Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE,
                        Events.REVIEWS, "reviews", 200, 1).toBuilder().setDuration(
                        com.google.protobuf.Duration.newBuilder().setSeconds(-1)).build().toByteArray(),
                        "invalid_field"));
    }

    @Test
    void anEventWithoutAKnownReporterOrWithAProtocolOfANewerWriterIsRefusedNamingTheField() {
        // Istio's reporter is source, destination or waypoint: a series with reporter="unknown" is one that no
        // query selects (they all filter on it) and the service graph cannot place
        var connection = Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews");
        assertThat(decoder.decode("l4", connection.toBuilder().setReporter(Reporter.REPORTER_UNSPECIFIED).build()
                .toByteArray())).isEqualTo(new DecodedEvent.Rejected("invalid_field",
                "ConnectionEvent.reporter: REPORTER_UNSPECIFIED (expected: SOURCE, DESTINATION or WAYPOINT)"));
        var request = Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", 200, 1);
        assertThat(decoder.decode("l7", request.toBuilder().setReporterValue(7).build().toByteArray()))
                .isEqualTo(new DecodedEvent.Rejected("invalid_field",
                        "RequestEvent.reporter: 7 (expected: SOURCE, DESTINATION or WAYPOINT)"));
        // a protocol this reader does not know was counted as http
        assertThat(decoder.decode("l7", request.toBuilder().setProtocolValue(5).build().toByteArray()))
                .isEqualTo(new DecodedEvent.Rejected("invalid_field",
                        "RequestEvent.protocol: 5 (expected: HTTP or GRPC)"));
    }

    @Test
    void namesTheFieldAndTheLimit() {
        DecodedEvent d = decoder.decode("l4", Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                "reviews").toBuilder().setDestinationService(Events.service("reviews").toBuilder()
                .setHostname("h".repeat(EventDecoder.MAX_LABEL_LENGTH + 1))).build().toByteArray());
        assertThat(d).isEqualTo(new DecodedEvent.Rejected("invalid_field",
                "ConnectionEvent.destination_service.hostname: 1025 characters (expected: at most 1024)"));
        // NUL is what a series key holds for a removed label: such a value would be served without its label
        DecodedEvent nul = decoder.decode("l4", Events.opened(Reporter.SOURCE, Events.PRODUCTPAGE,
                Events.REVIEWS.toBuilder().setWorkloadName("\0").build(), "reviews").toByteArray());
        assertThat(nul).isEqualTo(new DecodedEvent.Rejected("invalid_field",
                "ConnectionEvent.destination.workload_name: NUL at character 0 (expected: no NUL)"));
        DecodedEvent flags = decoder.decode("l7", Events.request(Reporter.WAYPOINT, Events.PRODUCTPAGE,
                Events.REVIEWS, "reviews", 200, 1).toBuilder().setResponseFlags("UF\0").build().toByteArray());
        assertThat(flags).isEqualTo(new DecodedEvent.Rejected("invalid_field",
                "RequestEvent.response_flags: NUL at character 2 (expected: no NUL)"));
        DecodedEvent b = decoder.decode("l4", Events.closed(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS,
                "reviews", 0, -1L).toByteArray());
        assertThat(b).isEqualTo(new DecodedEvent.Rejected("invalid_field",
                "ConnectionEvent.bytes_received: 18446744073709551615 (expected: <= 9223372036854775807)"));
    }

    @Test
    void aProgressIsCountedAndACloseReportingMoreThanItsTotalIsRefusedNamingTheField() {
        var progress = Events.progress(Reporter.SOURCE, Events.PRODUCTPAGE, Events.REVIEWS, "reviews", "c1", 5, 7,
                10, 20);
        assertThat(decoder.decode("l4", progress.toByteArray())).isEqualTo(new DecodedEvent.Connection(progress));
        DecodedEvent d = decoder.decode("l4", Events.closedAfterProgress(Reporter.SOURCE, Events.PRODUCTPAGE,
                Events.REVIEWS, "reviews", "c1", 18, 30, 15, 31).toByteArray());
        assertThat(d).isEqualTo(new DecodedEvent.Rejected("invalid_field",
                "ConnectionEvent.reported_bytes_received: 31 (expected: <= bytes_received 30 on CLOSED)"));
    }

    @ParameterizedTest(name = "{0} -> {3}")
    @MethodSource("rejected")
    void rejectsWithAReason(String name, String topic, byte[] value, String reason) {
        DecodedEvent d = decoder.decode(topic, value);
        assertThat(d).isInstanceOfSatisfying(DecodedEvent.Rejected.class, r -> {
            assertThat(r.reason()).isEqualTo(reason);
            assertThat(r.detail()).isNotBlank();
        });
    }

}
