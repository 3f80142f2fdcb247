package io.jmesh.testing.fuzz;

import static org.assertj.core.api.Assertions.assertThat;

import com.google.protobuf.Any;
import com.google.protobuf.ByteString;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.proto.istio.workload.Workload;
import java.util.Arrays;
import java.util.HashSet;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Test;

class ProtoMutatorTest {

    static final Workload WORKLOAD = Workload.newBuilder().setUid("w1").setName("w1").setNamespace("default")
            .addAddresses(ByteString.copyFrom(new byte[] {10, 0, 0, 1})).build();
    static final byte[] RESPONSE = DeltaDiscoveryResponse.newBuilder().setTypeUrl("t").setNonce("n")
            .addResources(Resource.newBuilder().setName("w1").setResource(Any.pack(Address.newBuilder()
                    .setWorkload(WORKLOAD).build()))).build().toByteArray();
    final BiFunction<byte[], Random, byte[]> mutator = ProtoMutator.of(DeltaDiscoveryResponse.getDefaultInstance(),
            Map.of("type.googleapis.com/istio.workload.Address", Address.getDefaultInstance()));

    @Test
    void everyMutantIsAMessageOfTheTypeAndTheAnysInsideAreReached() throws Exception {
        Random r = new Random(1);
        Set<Workload> changedInside = new HashSet<>();
        int different = 0;
        for (int i = 0; i < 2_000; i++) {
            byte[] mutant = mutator.apply(RESPONSE, r);
            DeltaDiscoveryResponse parsed = DeltaDiscoveryResponse.parseFrom(mutant); // throws if not well-formed
            different += Arrays.equals(mutant, RESPONSE) ? 0 : 1;
            for (Resource res : parsed.getResourcesList()) {
                if (res.getResource().is(Address.class)) {
                    try {
                        Workload w = res.getResource().unpack(Address.class).getWorkload();
                        if (!w.equals(WORKLOAD)) {
                            changedInside.add(w);
                        }
                    } catch (com.google.protobuf.InvalidProtocolBufferException e) {
                        // an Any whose value was replaced by random bytes: also a mutation
                    }
                }
            }
        }
        assertThat(different).as("mutants that differ from their input").isGreaterThan(1_500);
        // one mutation each, four levels down (response, resource, Any, address): a few percent of them
        assertThat(changedInside).as("workloads changed inside their Any").hasSizeGreaterThan(50);
    }

    @Test
    void theSameRandomNumbersGiveTheSameMutantsAndWhatDoesNotParseIsLeftAsItIs() {
        Random a = new Random(7);
        Random b = new Random(7);
        for (int i = 0; i < 200; i++) {
            assertThat(mutator.apply(RESPONSE, a)).isEqualTo(mutator.apply(RESPONSE, b));
        }
        byte[] notProtobuf = {(byte) 0xff, (byte) 0xff};
        assertThat(mutator.apply(notProtobuf, a)).isSameAs(notProtobuf);
    }
}
