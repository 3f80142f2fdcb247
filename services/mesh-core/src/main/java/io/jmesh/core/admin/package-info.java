/**
 * Operational HTTP endpoints. Starting points: {@link io.jmesh.core.admin.AdminServer},
 * {@link io.jmesh.core.admin.Readiness}.
 */
package io.jmesh.core.admin;
