/**
 * The service graph: workloads and services as nodes, traffic between them as edges, over a sliding window.
 * Starting points: {@link io.jmesh.telemetry.graph.ServiceGraph} (fed by the ingest thread) and
 * {@link io.jmesh.telemetry.graph.GraphRoutes} ({@code /graph} and {@code /graph/ui}).
 */
package io.jmesh.telemetry.graph;
