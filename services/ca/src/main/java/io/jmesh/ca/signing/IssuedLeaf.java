package io.jmesh.ca.signing;

import java.math.BigInteger;
import java.time.Instant;
import java.util.List;

/**
 * A signed workload certificate and the Istio chain that goes with it.
 *
 * @param serial the random serial number
 * @param notBefore start of validity (backdated for clock skew)
 * @param notAfter end of validity
 * @param chain PEM strings, leaf first, then the signing CA unless it is a root, intermediates, and every
 *     trusted root concatenated in the last element (Istio's {@code cert_chain})
 */
public record IssuedLeaf(BigInteger serial, Instant notBefore, Instant notAfter, List<String> chain) {

    public String serialHex() {
        return Crypto.serialHex(serial);
    }

    public String leafPem() {
        return chain.get(0);
    }
}
