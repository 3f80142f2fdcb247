/**
 * Following the ca's trust bundle (roots and CRL) and acting on revocations. Starting points:
 * {@link io.jmesh.ztunnel.trust.TrustBundleWatcher} (the {@code TrustBundleService/Watch} stream),
 * {@link io.jmesh.ztunnel.trust.BundleValidator} (what a bundle must satisfy),
 * {@link io.jmesh.ztunnel.trust.RevokedConnections} (closing live connections of revoked peers). The snapshot
 * handshakes read is {@link io.jmesh.ztunnel.tls.TrustSnapshot}.
 */
package io.jmesh.ztunnel.trust;
