package io.jmesh.core.grpc;

import io.vertx.core.Vertx;
import io.vertx.core.http.HttpConnection;
import io.vertx.core.net.impl.ConnectionBase;
import java.time.Duration;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * gRPC's server-side {@code MaxConnectionAge}, as istiod runs it ({@code --keepaliveMaxServerConnectionAge}, 30
 * min, grace 10 s): a connection older than {@code age} (plus or minus 10 % jitter, as grpc-go, so connections
 * opened together do not all go at once) is sent GOAWAY, and closed {@code grace} later with whatever streams it
 * still carries. Its clients reconnect, possibly to another replica: without this, after a rolling restart every
 * client stays on the replica that came up first.
 */
public final class MaxConnectionAge {

    private static final Logger log = LoggerFactory.getLogger(MaxConnectionAge.class);

    /** istiod's {@code --keepaliveMaxServerConnectionAge}. */
    public static final Duration ISTIO_AGE = Duration.ofMinutes(30);
    /** grpc-go's and istiod's {@code MaxConnectionAgeGrace}. */
    public static final Duration ISTIO_GRACE = Duration.ofSeconds(10);

    /** A configured age and grace. */
    public record Settings(Duration age, Duration grace) {

        /**
         * {@code age} and {@code grace} as configured under {@code prefix} (e.g. {@code xds.}): istiod's where not
         * set, refused naming the field when the age is not above zero or the grace below zero.
         */
        public static Settings of(String prefix, Duration age, Duration grace) {
            Duration a = age == null ? ISTIO_AGE : age;
            Duration g = grace == null ? ISTIO_GRACE : grace;
            if (a.isNegative() || a.isZero()) {
                throw new IllegalArgumentException(prefix + "maxConnectionAge: " + a + " (expected: > 0)");
            }
            if (g.isNegative()) {
                throw new IllegalArgumentException(prefix + "maxConnectionAgeGrace: " + g + " (expected: >= 0)");
            }
            return new Settings(a, g);
        }
    }

    private final Vertx vertx;
    private final Duration age;
    private final Duration grace;

    public MaxConnectionAge(Vertx vertx, Duration age, Duration grace) {
        this.vertx = vertx;
        this.age = age;
        this.grace = grace;
    }

    /** Schedules {@code connection}'s GOAWAY; the timer goes when the connection closes first. */
    public void watch(HttpConnection connection) {
        if (!(connection instanceof ConnectionBase base)) {
            log.warn("max connection age not applied to {}: its close cannot be observed",
                    connection.getClass().getName());
            return;
        }
        long millis = Math.max(1, Math.round(age.toMillis() * ThreadLocalRandom.current().nextDouble(0.9, 1.1)));
        long timer = vertx.setTimer(millis, id -> {
            log.atDebug().addKeyValue("remote", String.valueOf(connection.remoteAddress()))
                    .log("connection reached its maximum age: GOAWAY, closed in {}", grace);
            connection.shutdown(grace.toMillis(), TimeUnit.MILLISECONDS);
        });
        base.closeFuture().onComplete(v -> vertx.cancelTimer(timer));
    }
}
