/** JSON-lines logging for service processes. Starting point: {@link io.jmesh.core.logging.JsonLogging}. */
package io.jmesh.core.logging;
