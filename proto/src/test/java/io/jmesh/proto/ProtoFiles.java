package io.jmesh.proto;

import com.google.protobuf.Descriptors.Descriptor;
import com.google.protobuf.Descriptors.FileDescriptor;
import com.google.protobuf.Message;
import java.util.ArrayList;
import java.util.List;

/** Every .proto file of this module, by its generated outer class, and helpers over them. */
final class ProtoFiles {

    static final List<FileDescriptor> ALL = List.of(
            io.jmesh.proto.istio.v1.auth.IstioCaProto.getDescriptor(),
            io.jmesh.proto.istio.workload.WorkloadProto.getDescriptor(),
            io.jmesh.proto.istio.workload.zds.ZdsProto.getDescriptor(),
            io.jmesh.proto.istio.security.AuthorizationProto.getDescriptor(),
            io.jmesh.proto.envoy.config.core.v3.BaseProto.getDescriptor(),
            io.jmesh.proto.envoy.service.discovery.v3.DiscoveryProto.getDescriptor(),
            io.jmesh.proto.envoy.service.discovery.v3.AdsProto.getDescriptor(),
            io.jmesh.proto.google.rpc.StatusProto.getDescriptor(),
            io.jmesh.proto.ca.v1.CaProto.getDescriptor(),
            io.jmesh.proto.ca.v1.AuditProto.getDescriptor(),
            io.jmesh.proto.config.v1.ConfigProto.getDescriptor(),
            io.jmesh.proto.policy.v1.AdminProto.getDescriptor(),
            io.jmesh.proto.telemetry.v1.EventsProto.getDescriptor());

    private ProtoFiles() {}

    static List<Descriptor> topLevelMessages() {
        List<Descriptor> all = new ArrayList<>();
        for (FileDescriptor file : ALL) {
            all.addAll(file.getMessageTypes());
        }
        return all;
    }

    /** The generated class of a message (java_multiple_files: top-level types are top-level classes). */
    static Class<?> javaClass(Descriptor d) throws ClassNotFoundException {
        StringBuilder name = new StringBuilder(d.getName());
        for (Descriptor outer = d.getContainingType(); outer != null; outer = outer.getContainingType()) {
            name.insert(0, outer.getName() + "$");
        }
        return Class.forName(d.getFile().getOptions().getJavaPackage() + "." + name);
    }

    static Message defaultInstance(Descriptor d) throws ReflectiveOperationException {
        return (Message) javaClass(d).getMethod("getDefaultInstance").invoke(null);
    }
}
