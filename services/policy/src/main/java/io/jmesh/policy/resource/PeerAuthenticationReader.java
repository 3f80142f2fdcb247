package io.jmesh.policy.resource;

import io.jmesh.proto.config.v1.ObjectMeta;
import io.jmesh.proto.config.v1.PeerAuthenticationSpec;
import io.jmesh.proto.config.v1.PeerAuthenticationSpec.Mode;
import io.jmesh.proto.config.v1.WorkloadSelector;
import java.util.Map;

/** {@code PeerAuthentication} spec with Istio's rules: port-level settings need a selector. */
final class PeerAuthenticationReader {

    private PeerAuthenticationReader() {}

    static PeerAuthenticationSpec read(Obj spec, ObjectMeta meta, String rootNamespace) {
        Problems p = spec.problems();
        PeerAuthenticationSpec.Builder b = PeerAuthenticationSpec.newBuilder();
        boolean hasSelector = false;
        Obj selector = spec.object("selector");
        if (selector != null) {
            Map<String, String> labels = selector.stringMap("matchLabels");
            Names.labels(labels, selector.at("matchLabels"), p);
            selector.finish();
            b.setSelector(WorkloadSelector.newBuilder().putAllMatchLabels(labels));
            hasSelector = !labels.isEmpty();
        }
        Obj mtls = spec.object("mtls");
        if (mtls != null) {
            b.setMtls(PeerAuthenticationSpec.MutualTls.newBuilder().setMode(mode(mtls, p)));
            mtls.finish();
        }
        for (Obj.Entry e : spec.entries("portLevelMtls")) {
            Long port = e.key().matches("[0-9]{1,5}") ? Long.parseLong(e.key()) : null;
            if (port == null || port < 1 || port > 65535) {
                p.error(e.path(), "'" + e.key() + "' is not a port number (expected: 1-65535)");
                continue;
            }
            Obj level = Obj.of(e.node(), e.path(), p);
            if (level == null) {
                continue;
            }
            Mode m = mode(level, p); // UNSET (or none): the port keeps the workload's mode, as in Istio
            level.finish();
            b.putPortLevelMtls(port.intValue(), PeerAuthenticationSpec.MutualTls.newBuilder().setMode(m).build());
        }
        if (b.getPortLevelMtlsCount() > 0 && !hasSelector) {
            p.error(spec.at("portLevelMtls"), "requires a workload selector (Istio applies port-level mTLS only"
                    + " to selected workloads)");
        }
        if (hasSelector && rootNamespace.equals(meta.getNamespace())) {
            // istiod takes selector policies only outside the root namespace (there is no mesh-wide selector policy)
            p.warn("a selector in the root namespace '" + rootNamespace + "' selects no workload, not even that"
                    + " namespace's (as in Istio): the policy is ignored");
        }
        spec.finish();
        return b.build();
    }

    private static Mode mode(Obj o, Problems p) {
        String s = o.string("mode");
        if (s == null) {
            return Mode.UNSET;
        }
        switch (s) {
            case "UNSET":
                return Mode.UNSET;
            case "PERMISSIVE":
                return Mode.PERMISSIVE;
            case "STRICT":
                return Mode.STRICT;
            case "DISABLE":
                p.warn(o.at("mode") + ": DISABLE cannot be honoured in ambient mode (HBONE is always mTLS);"
                        + " treated as PERMISSIVE");
                return Mode.DISABLE;
            default:
                p.error(o.at("mode"), "'" + s + "' (expected: UNSET, DISABLE, PERMISSIVE or STRICT)");
                return Mode.UNSET;
        }
    }
}
