package io.jmesh.core.grpc;

import io.vertx.grpc.common.GrpcStatus;
import io.vertx.grpc.common.InvalidMessageException;
import io.vertx.grpc.server.GrpcServerRequest;
import java.util.function.Consumer;

/**
 * Reads the one request message of a unary or server-streaming gRPC call. Vert.x hands a server every message a
 * client sends, so an operation bound with {@code call.handler} runs once per message, and never for a call that
 * ends without one: a client could make one call repeat its operation (sign twice, open two watches on one
 * response) or hold a call open unanswered. As grpc-java's server does, the request is decided at the client's end
 * of stream: exactly one message runs the operation; none or several, or one the deframer refuses (over the size
 * limit, or that is no message of the request's type), end the call with {@code INVALID_ARGUMENT}, the message
 * saying which. The method must be bound through {@link Decoded#method}: Vert.x's own decoder would cancel a call
 * whose message does not decode (CANCELLED, no reason) before any handler sees it.
 */
public final class SingleRequest {

    /** How a call that did not carry exactly one decodable request is answered. */
    @FunctionalInterface
    public interface Refusal {
        /**
         * @param problem what was wrong, for the status message
         * @param invalid the deframer's refusal, when a message could not be read (else null)
         */
        void refuse(String problem, InvalidMessageException invalid);
    }

    private SingleRequest() {}

    /** Runs {@code operation} with the call's one request; any other call ends with {@code INVALID_ARGUMENT}. */
    public static <Req> void read(GrpcServerRequest<Decoded<Req>, ?> call, String messageType,
            Consumer<Req> operation) {
        read(call, messageType, operation, (problem, invalid) -> call.response().status(GrpcStatus.INVALID_ARGUMENT)
                .statusMessage(problem).end());
    }

    /** As {@link #read(GrpcServerRequest, String, Consumer)}, answering other calls with {@code refusal}. */
    public static <Req> void read(GrpcServerRequest<Decoded<Req>, ?> call, String messageType,
            Consumer<Req> operation, Refusal refusal) {
        State<Req> state = new State<>();
        // everything is decided at the end of the client's stream: an answer before it would make Vert.x reset the
        // stream, and the client could see CANCELLED instead of the status
        call.invalidMessageHandler(err -> {
            if (state.invalid == null) {
                state.invalid = err;
            }
        });
        call.handler(message -> {
            if (message.message() == null && state.undecodable == null) {
                state.undecodable = message.error();
            }
            if (state.messages++ == 0) {
                state.request = message.message();
            } else {
                state.request = null; // not kept: it will not run
            }
        });
        call.endHandler(v -> {
            if (state.invalid != null) {
                refusal.refuse("request: " + messageType + " unreadable: " + state.invalid.getMessage(),
                        state.invalid);
            } else if (state.undecodable != null) {
                refusal.refuse("request: the message does not decode as " + messageType + ": " + state.undecodable,
                        null);
            } else if (state.messages > 1) {
                refusal.refuse("request: more than one " + messageType + " message (expected: exactly one)", null);
            } else if (state.messages == 0) {
                refusal.refuse("request: no " + messageType + " message before the end of the stream (expected:"
                        + " exactly one)", null);
            } else {
                Req request = state.request;
                state.request = null;
                operation.accept(request);
            }
        });
    }

    /** What one call has received; touched only on the call's event loop. */
    private static final class State<Req> {
        Req request;
        int messages;
        InvalidMessageException invalid;
        String undecodable;
    }
}
