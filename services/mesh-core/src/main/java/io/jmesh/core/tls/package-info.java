/**
 * PEM handling, certificate inspection and the mesh's TLS rules. Starting points:
 * {@link io.jmesh.core.tls.Pem}, {@link io.jmesh.core.tls.Certificates}, {@link io.jmesh.core.tls.TlsPolicy}.
 */
package io.jmesh.core.tls;
