/**
 * Workload identity. Starting point: {@link io.jmesh.core.identity.SpiffeId}.
 */
package io.jmesh.core.identity;
