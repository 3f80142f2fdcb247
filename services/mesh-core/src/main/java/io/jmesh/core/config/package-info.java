/**
 * Service configuration: one YAML file over built-in defaults, plus {@code MESH_*} environment overrides.
 * Starting point: {@link io.jmesh.core.config.ConfigLoader}.
 */
package io.jmesh.core.config;
