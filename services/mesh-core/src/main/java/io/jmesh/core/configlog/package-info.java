/**
 * The mesh configuration log (compacted Kafka topic {@code mesh.config.v1}): every source writes it, every
 * reader materializes it. Starting points: {@link io.jmesh.core.configlog.ConfigLogReader},
 * {@link io.jmesh.core.configlog.ConfigLogWriter}.
 */
package io.jmesh.core.configlog;
