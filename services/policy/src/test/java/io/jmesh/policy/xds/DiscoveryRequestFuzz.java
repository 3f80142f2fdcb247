package io.jmesh.policy.xds;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.google.protobuf.InvalidProtocolBufferException;
import io.jmesh.core.configlog.ConfigSnapshot;
import io.jmesh.policy.resource.ManifestReader;
import io.jmesh.policy.resource.ParsedObject;
import io.jmesh.policy.state.MeshSettings;
import io.jmesh.policy.state.MeshState;
import io.jmesh.policy.state.MeshStateBuilder;
import io.jmesh.policy.state.TypeUrls;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryRequest;
import io.jmesh.proto.envoy.service.discovery.v3.DeltaDiscoveryResponse;
import io.jmesh.proto.envoy.service.discovery.v3.Resource;
import io.jmesh.proto.google.rpc.Status;
import io.jmesh.proto.istio.security.Authorization;
import io.jmesh.proto.istio.workload.Address;
import io.jmesh.testing.fuzz.Fuzzer;
import io.jmesh.testing.fuzz.ProtoMutator;
import io.prometheus.metrics.model.registry.PrometheusRegistry;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.function.BiFunction;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

/**
 * What a ztunnel (ours, Istio's, or a broken one) may send on its delta ADS stream, through one stream's real diff
 * machinery ({@link AdsStream#onRequest}) over a small mesh: wildcard, on-demand and explicit subscriptions,
 * unsubscriptions, {@code initial_resource_versions}, nonces and NACKs, types not served. An input is a sequence of
 * requests, each a byte saying how the harness answers what the request brought (bit 0: acknowledge the newest
 * response of the request's type, bit 1: reject it instead) and the request, length-delimited; mutated as bytes, and
 * one request at a time field by field ({@link ProtoMutator}). Each input opens a fresh stream.
 *
 * <p>Oracle: no request throws; every response is of the type asked, has a nonce no other response of the stream
 * had, carries resources that decode as that type under their canonical names ({@code uid},
 * {@code namespace/hostname}, {@code namespace/name}) and names no resource both sent and removed; and a served type
 * never has two responses awaiting their acknowledgement (xDS flow control: the stream coalesces changes into its
 * next diff instead of queueing responses). Each input within {@link #SLOW}.
 */
@Tag("fuzz")
class DiscoveryRequestFuzz {

    static final Duration SLOW = Duration.ofSeconds(2);
    static final int ACK = 1;
    static final int NACK = 2;

    static final MeshState STATE = mesh();
    final Map<String, Integer> outcomes = new TreeMap<>();

    static MeshState mesh() {
        ManifestReader reader = new ManifestReader("istio-system");
        var records = new java.util.TreeMap<io.jmesh.core.configlog.ConfigKey, io.jmesh.proto.config.v1.ConfigRecord>();
        for (ParsedObject o : reader.read(String.join("---\n",
                OnDemandAdsTest.MESH,
                OnDemandAdsTest.entry("shop", "w3", "127.0.10.3", "labels: {app: reviews}"),
                OnDemandAdsTest.entry("shop", "w4", "fd00::4", "labels: {app: reviews}, network: net-b"),
                """
                apiVersion: security.istio.io/v1
                kind: AuthorizationPolicy
                metadata: {name: allow-reviews, namespace: shop}
                spec:
                  selector: {matchLabels: {app: reviews}}
                  rules: [{from: [{source: {principals: ["cluster.local/ns/shop/sa/sleep"]}}]}]
                """))) {
            assertThat(o.errors()).as(o.describe()).isEmpty();
            records.put(o.key(), o.record());
        }
        MeshState s = new MeshStateBuilder(new MeshSettings("istio-system", "cluster.local", "Kubernetes",
                "cluster.local")).build(new ConfigSnapshot(records, Map.of()), x -> { });
        return OnDemandAdsTest.indexed(s);
    }

    static byte[][] seeds() {
        DeltaDiscoveryRequest wildcardAddress = DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS).build();
        DeltaDiscoveryRequest wildcardAuthorization = DeltaDiscoveryRequest.newBuilder()
                .setTypeUrl(TypeUrls.AUTHORIZATION).build();
        DeltaDiscoveryRequest onDemand = DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("*").addResourceNamesUnsubscribe("*").build();
        DeltaDiscoveryRequest aliases = DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesSubscribe("/127.0.10.1").addResourceNamesSubscribe("net-b/127.0.10.2")
                .addResourceNamesSubscribe(OnDemandAdsTest.REVIEWS).addResourceNamesSubscribe("/10.96.0.10").build();
        DeltaDiscoveryRequest unsubscribe = DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .addResourceNamesUnsubscribe("/127.0.10.1").addResourceNamesSubscribe("/fd00::1").build();
        DeltaDiscoveryRequest reconnect = DeltaDiscoveryRequest.newBuilder().setTypeUrl(TypeUrls.ADDRESS)
                .putInitialResourceVersions(OnDemandAdsTest.UID + "w1", "stale")
                .putInitialResourceVersions("shop/reviews.shop.svc.cluster.local", "1").build();
        DeltaDiscoveryRequest unserved = DeltaDiscoveryRequest.newBuilder()
                .setTypeUrl("type.googleapis.com/envoy.config.cluster.v3.Cluster").addResourceNamesSubscribe("x")
                .build();
        return new byte[][] {
            requests(ACK, wildcardAuthorization, ACK, wildcardAddress, ACK, unserved),
            requests(ACK, wildcardAuthorization, ACK, onDemand, ACK, aliases, NACK, unsubscribe, 0, aliases),
            requests(0, reconnect, ACK, wildcardAuthorization, NACK, reconnect.toBuilder().clearInitialResourceVersions()
                    .addResourceNamesSubscribe("*").build())};
    }

    @Test
    void everyRequestIsAnsweredWithinTheProtocolAndNothingThrows() {
        assertTimeoutPreemptively(Duration.ofSeconds(Long.getLong("fuzz.seconds", 20)
                + TimeUnit.MINUTES.toSeconds(1)), () -> Fuzzer.named("discovery-requests", 2048).seeds(seeds())
                .mutator(DiscoveryRequestFuzz::mutateOneRequest)
                .run(input -> assertTimeoutPreemptively(SLOW, () -> stream(input),
                        "one stream took longer than " + SLOW)), "a fuzz input hung; replay with the printed -Dfuzz.seed");
        System.out.println("fuzz discovery-requests: outcomes " + outcomes);
        assertThat(outcomes).as("some requests must be answered").containsKey("responses");
    }

    private void stream(byte[] input) throws Exception {
        AdsStreamTest.Captured out = new AdsStreamTest.Captured();
        AdsStream s = new AdsStream(null, out, "node-a", STATE, new AdsMetrics(new PrometheusRegistry()), 3);
        ByteArrayInputStream in = new ByteArrayInputStream(input);
        Map<String, String> awaiting = new HashMap<>(); // type -> nonce of its response not yet acknowledged
        Set<String> nonces = new HashSet<>();
        int seen = 0;
        while (in.available() > 0) {
            int answer = in.read();
            DeltaDiscoveryRequest req;
            try {
                req = DeltaDiscoveryRequest.parseDelimitedFrom(in);
            } catch (InvalidProtocolBufferException e) {
                count("not_protobuf");
                return; // the gRPC layer ends such a stream
            }
            if (req == null) {
                return;
            }
            count("requests");
            if (!req.getResponseNonce().isEmpty() && req.getResponseNonce().equals(awaiting.get(req.getTypeUrl()))) {
                awaiting.remove(req.getTypeUrl());
            }
            s.onRequest(req);
            seen = check(out, seen, awaiting, nonces);
            DeltaDiscoveryResponse newest = newest(out, req.getTypeUrl());
            if ((answer & (ACK | NACK)) != 0 && newest != null) {
                DeltaDiscoveryRequest.Builder reply = DeltaDiscoveryRequest.newBuilder().setTypeUrl(req.getTypeUrl())
                        .setResponseNonce(newest.getNonce());
                if ((answer & NACK) != 0) {
                    reply.setErrorDetail(Status.newBuilder().setCode(3).setMessage("fuzz: rejected"));
                }
                if (newest.getNonce().equals(awaiting.get(req.getTypeUrl()))) {
                    awaiting.remove(req.getTypeUrl());
                }
                s.onRequest(reply.build());
                seen = check(out, seen, awaiting, nonces);
            }
        }
        s.close();
    }

    /** Checks the responses written since {@code seen}; returns how many there are now. */
    private int check(AdsStreamTest.Captured out, int seen, Map<String, String> awaiting, Set<String> nonces)
            throws Exception {
        for (int i = seen; i < out.written.size(); i++) {
            DeltaDiscoveryResponse r = out.written.get(i);
            count("responses");
            assertThat(r.getNonce()).as("nonce").isNotEmpty();
            assertThat(nonces.add(r.getNonce())).as("nonce %s used once", r.getNonce()).isTrue();
            boolean served = TypeUrls.ADDRESS.equals(r.getTypeUrl()) || TypeUrls.AUTHORIZATION.equals(r.getTypeUrl());
            if (served) {
                assertThat(awaiting.get(r.getTypeUrl())).as("a second %s response while %s awaits its ACK",
                        r.getTypeUrl(), awaiting.get(r.getTypeUrl())).isNull();
                awaiting.put(r.getTypeUrl(), r.getNonce());
            } else {
                assertThat(r.getResourcesList()).as("an unserved type gets no resources").isEmpty();
            }
            Set<String> sent = new HashSet<>();
            for (Resource res : r.getResourcesList()) {
                count("resources");
                sent.add(res.getName());
                assertThat(res.getName()).isEqualTo(canonicalName(r.getTypeUrl(), res));
            }
            for (String removed : r.getRemovedResourcesList()) {
                assertThat(sent).as("%s both sent and removed", removed).doesNotContain(removed);
            }
        }
        return out.written.size();
    }

    private static String canonicalName(String type, Resource res) throws InvalidProtocolBufferException {
        if (TypeUrls.AUTHORIZATION.equals(type)) {
            Authorization a = res.getResource().unpack(Authorization.class);
            return a.getNamespace() + "/" + a.getName();
        }
        Address a = res.getResource().unpack(Address.class);
        return a.hasWorkload() ? a.getWorkload().getUid()
                : a.getService().getNamespace() + "/" + a.getService().getHostname();
    }

    private static DeltaDiscoveryResponse newest(AdsStreamTest.Captured out, String type) {
        for (int i = out.written.size() - 1; i >= 0; i--) {
            if (out.written.get(i).getTypeUrl().equals(type)) {
                return out.written.get(i);
            }
        }
        return null;
    }

    private void count(String outcome) {
        outcomes.merge(outcome, 1, Integer::sum);
    }

    static final BiFunction<byte[], Random, byte[]> REQUEST =
            ProtoMutator.of(DeltaDiscoveryRequest.getDefaultInstance(), Map.of());

    /** One request of the sequence mutated field by field, or its answer byte changed; the rest as it was. */
    private static byte[] mutateOneRequest(byte[] input, Random r) {
        List<Object> pairs = new ArrayList<>();
        ByteArrayInputStream in = new ByteArrayInputStream(input);
        try {
            while (in.available() > 0) {
                int answer = in.read();
                DeltaDiscoveryRequest req = DeltaDiscoveryRequest.parseDelimitedFrom(in);
                if (req == null) {
                    break;
                }
                pairs.add(answer);
                pairs.add(req);
            }
        } catch (IOException e) {
            return input; // not a sequence of requests any more: the byte mutations take it from here
        }
        if (pairs.isEmpty()) {
            return input;
        }
        int i = 2 * r.nextInt(pairs.size() / 2);
        if (r.nextInt(4) == 0) {
            pairs.set(i, r.nextInt(4));
        } else {
            try {
                pairs.set(i + 1, DeltaDiscoveryRequest.parseFrom(REQUEST.apply(
                        ((DeltaDiscoveryRequest) pairs.get(i + 1)).toByteArray(), r)));
            } catch (InvalidProtocolBufferException e) {
                throw new AssertionError("the mutator wrote no request", e);
            }
        }
        return requests(pairs.toArray());
    }

    /** Pairs of (answer byte, request), written as the input format. */
    private static byte[] requests(Object... answerThenRequest) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try {
            for (int i = 0; i < answerThenRequest.length; i += 2) {
                out.write((Integer) answerThenRequest[i]);
                ((DeltaDiscoveryRequest) answerThenRequest[i + 1]).writeDelimitedTo(out);
            }
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        return out.toByteArray();
    }
}
