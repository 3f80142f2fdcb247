/**
 * Destination-side L4 authorization with Istio's semantics. Starting points:
 * {@link io.jmesh.ztunnel.authz.Authorizer}, {@link io.jmesh.ztunnel.authz.AuthorizationStore}.
 */
package io.jmesh.ztunnel.authz;
