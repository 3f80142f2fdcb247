package io.jmesh.core.grpc;

import io.vertx.grpc.common.CodecException;
import io.vertx.grpc.common.GrpcMessage;
import io.vertx.grpc.common.GrpcMessageDecoder;
import io.vertx.grpc.common.ServiceMethod;
import io.vertx.grpc.common.WireFormat;

/**
 * A request message as read off the wire: the message, or why it is none. When Vert.x's own decoder refuses a
 * message it cancels the call itself ({@code CANCELLED}, no reason, no handler told, nothing counted); a method bound
 * through {@link #method} hands the refusal to the handler instead, which can answer {@code INVALID_ARGUMENT} with
 * protobuf's reason and count it.
 *
 * @param message the decoded message, or null when {@code error} says why there is none
 */
public record Decoded<T>(T message, String error) {

    /** {@code generated} (a generated server method) with its requests decoded into {@link Decoded}s. */
    public static <Req, Resp> ServiceMethod<Decoded<Req>, Resp> method(ServiceMethod<Req, Resp> generated) {
        GrpcMessageDecoder<Req> decoder = generated.decoder();
        return ServiceMethod.server(generated.serviceName(), generated.methodName(), generated.encoder(),
                new GrpcMessageDecoder<>() {
                    @Override
                    public Decoded<Req> decode(GrpcMessage message) {
                        try {
                            return new Decoded<>(decoder.decode(message), null);
                        } catch (CodecException e) {
                            return new Decoded<>(null, reason(e));
                        }
                    }

                    @Override
                    public boolean accepts(WireFormat format) {
                        return decoder.accepts(format);
                    }
                });
    }

    private static String reason(CodecException e) {
        Throwable t = e.getCause() != null ? e.getCause() : e;
        return t.getMessage() != null ? t.getMessage() : t.getClass().getSimpleName();
    }
}
