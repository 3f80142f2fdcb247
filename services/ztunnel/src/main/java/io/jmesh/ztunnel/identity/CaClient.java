package io.jmesh.ztunnel.identity;

import io.jmesh.core.identity.SpiffeId;
import io.vertx.core.Future;
import java.time.Duration;
import java.util.List;

/** Signs CSRs for workload identities this node may impersonate (Istio's {@code CreateCertificate}). */
public interface CaClient {

    /**
     * Asks the CA to sign {@code csrPem} for {@code identity}.
     *
     * @return the PEM chain as the CA returns it: leaf first, intermediates, roots last
     */
    Future<List<String>> createCertificate(String csrPem, SpiffeId identity, Duration ttl);
}
