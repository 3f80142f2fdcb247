/** Prometheus exposition of the aggregated Istio metrics. Starting point: {@link io.jmesh.telemetry.metrics.IstioMetrics}. */
package io.jmesh.telemetry.metrics;
