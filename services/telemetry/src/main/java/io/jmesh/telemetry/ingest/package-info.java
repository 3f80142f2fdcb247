/**
 * Consumer-group ingestion of telemetry events with exactly-once counting. Starting point:
 * {@link io.jmesh.telemetry.ingest.EventIngestor}; the design is explained in {@code docs/telemetry.md}.
 */
package io.jmesh.telemetry.ingest;
