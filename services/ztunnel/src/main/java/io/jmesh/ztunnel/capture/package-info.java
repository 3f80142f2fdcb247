/**
 * Transparent capture: in transparent mode ztunnel programs nftables TPROXY rules, packet marks and policy routing
 * in its node's network namespace for the ambient workloads on its node, and keeps them in sync. Starting points:
 * {@link io.jmesh.ztunnel.capture.CaptureController} (wiring, metrics, readiness),
 * {@link io.jmesh.ztunnel.capture.CaptureRules} (the rule text).
 */
package io.jmesh.ztunnel.capture;
