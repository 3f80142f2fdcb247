package io.jmesh.ztunnel.telemetry;

/** A connection event ready for Kafka: its record's key (the source workload's uid) and value. */
record EncodedEvent(byte[] key, byte[] value) {}
