/**
 * Process lifecycle: start, drain on SIGTERM, close. Starting point:
 * {@link io.jmesh.core.lifecycle.ServiceLauncher}.
 */
package io.jmesh.core.lifecycle;
