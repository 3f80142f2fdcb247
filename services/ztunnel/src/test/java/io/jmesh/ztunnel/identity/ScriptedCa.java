package io.jmesh.ztunnel.identity;

import io.jmesh.core.identity.SpiffeId;
import io.jmesh.core.tls.Pem;
import io.jmesh.ztunnel.testing.TestCa;
import io.vertx.core.Future;
import io.vertx.core.Promise;
import java.time.Duration;
import java.util.List;
import java.util.Queue;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * A {@link CaClient} the test steers without a server: it signs with a {@link TestCa}, fails while {@link #failWith}
 * is set, and while {@link #hold} is set keeps each answer in {@link #held} until the test runs it.
 */
final class ScriptedCa implements CaClient {

    private final TestCa ca;
    final AtomicInteger requests = new AtomicInteger();
    volatile String failWith;
    volatile boolean hold;
    final Queue<Runnable> held = new ConcurrentLinkedQueue<>();

    ScriptedCa(TestCa ca) {
        this.ca = ca;
    }

    @Override
    public Future<List<String>> createCertificate(String csrPem, SpiffeId identity, Duration ttl) {
        requests.incrementAndGet();
        String fail = failWith;
        if (fail != null) {
            return Future.failedFuture(fail);
        }
        Promise<List<String>> p = Promise.promise();
        Runnable answer = () -> {
            try {
                p.complete(List.of(Pem.encode(ca.sign(io.jmesh.ca.signing.CsrPem.parse(csrPem), identity)), ca.rootPem()));
            } catch (Exception e) {
                p.fail(e);
            }
        };
        if (hold) {
            held.add(answer);
        } else {
            answer.run();
        }
        return p.future();
    }
}
