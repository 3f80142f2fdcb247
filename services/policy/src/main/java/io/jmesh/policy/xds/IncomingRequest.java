package io.jmesh.policy.xds;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.GrpcMessageEncoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.ServiceName;
import io.vertx.grpc.common.WireFormat;

/**
 * One message of a discovery stream as read off the wire: the request, or why it is none.
 *
 * <p>Decoding here, not in Vert.x: when Vert.x's own decoder fails it cancels the call itself ({@code CANCELLED}, no
 * reason given), and the stream stayed registered and pushed to for good; here the server ends it with the reason.
 *
 * @param request the request, or null when {@code error} says why the message is none
 */
record IncomingRequest(DeltaDiscoveryRequest request, String error) {

    /** {@code DeltaAggregatedResources}, its requests decoded into {@link IncomingRequest}s. */
    static final ServiceMethod<IncomingRequest, DeltaDiscoveryResponse> METHOD = ServiceMethod.server(
            ServiceName.create("envoy.service.discovery.v3.AggregatedDiscoveryService"), "DeltaAggregatedResources",
            GrpcMessageEncoder.encoder(), new Decoder());

    private static final class Decoder implements GrpcMessageDecoder<IncomingRequest> {
        @Override
        public IncomingRequest decode(GrpcMessage message) {
            try {
                return new IncomingRequest(DeltaDiscoveryRequest.parseFrom(message.payload().getBytes()), null);
            } catch (InvalidProtocolBufferException e) {
                return new IncomingRequest(null, e.getMessage());
            }
        }

        @Override
        public boolean accepts(WireFormat format) {
            return format == WireFormat.PROTOBUF;
        }
    }
}
