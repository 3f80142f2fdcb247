/** OpenTelemetry export of the aggregated metrics. Starting point: {@link io.jmesh.telemetry.otlp.OtlpMetricsExporter}. */
package io.jmesh.telemetry.otlp;
