#!/bin/bash
# docker-compose.yml's topology without Docker (root; iproute2, busybox, python3-yaml, curl): a manual check of the
# node-namespace design with the real service jars, for machines without a container engine (like CI's).
#
# The compose network `mesh` is a bridge; kafka, ca, policy and telemetry each get a namespace at a fixed address
# (their compose names resolve through /etc/netns/<ns>/hosts); node-a and node-b are namespaces set up by the
# holders' own commands from docker-compose.yml, run with busybox as in the busybox image; each node's ztunnel and
# demo workloads run inside. Configuration: demo/compose/config and demo/compose/manifests as compose mounts them,
# the container paths of the credentials volumes replaced by MESH_* variables pointing at directories under the
# work dir; the credentials are made with the ca CLI commands of the init-* services. Then: productpage reaches
# reviews across the nodes over mutual TLS, sleep is denied, telemetry counts the connection.
#
#   make build && sudo tools/compose/emulate.sh        # exit 0 when every expectation holds
#
# Needs the service jars (services/*/target/<name>.jar) and tools/local-mesh/target/classes. Leaves no process or
# namespace behind; the logs stay in the work directory it prints. About 90 s on a 2-core machine.
set -uo pipefail
R="$(cd "$(dirname "$0")/../.." && pwd)"
W="$(mktemp -d /tmp/jmesh-compose-emulate.XXXXXX)"
P="jmce$$"
NAMESPACES=(kafka ca policy telemetry node-a node-b)
pids=()
cleanup() {
  for p in "${pids[@]}"; do pkill -TERM -P "$p" 2>/dev/null; kill -TERM "$p" 2>/dev/null; done
  sleep 3
  for p in "${pids[@]}"; do pkill -KILL -P "$p" 2>/dev/null; kill -KILL "$p" 2>/dev/null; done
  for n in br "${NAMESPACES[@]}"; do ip netns del "$P-$n" 2>/dev/null; rm -rf "/etc/netns/$P-$n"; done
  echo "logs: $W/logs"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "needs root (network namespaces)"
for t in ip busybox python3 curl java; do command -v $t >/dev/null || fail "$t is not installed"; done
for s in ca policy telemetry ztunnel; do [ -f "$R/services/$s/target/$s.jar" ] || fail "services/$s/target/$s.jar: run make build"; done
mkdir -p "$W"/vol/{ca-state,policy-credentials,node-a-credentials,node-b-credentials} "$W/logs" "$W/bin"
for a in sh ip touch test sleep; do ln -s "$(command -v busybox)" "$W/bin/$a"; done
compose() { python3 -c "import yaml,sys; print(eval(sys.argv[1], {'c': yaml.safe_load(open('$R/docker-compose.yml'))}))" "$1"; }

# --- the compose network and the namespaces on it
ip netns add "$P-br" && ip -n "$P-br" link add br0 type bridge && ip -n "$P-br" link set br0 up || fail "bridge"
declare -A ADDR=([kafka]=172.30.250.130 [ca]=172.30.250.131 [policy]=172.30.250.132 [telemetry]=172.30.250.133
  [node-a]="$(compose "c['services']['node-a']['networks']['mesh']['ipv4_address']")"
  [node-b]="$(compose "c['services']['node-b']['networks']['mesh']['ipv4_address']")")
i=0
for n in "${NAMESPACES[@]}"; do
  i=$((i + 1))
  ip netns add "$P-$n" && ip -n "$P-$n" link set lo up
  ip link add "${P}v$i" type veth peer name "${P}b$i"
  ip link set "${P}v$i" netns "$P-$n" && ip link set "${P}b$i" netns "$P-br"
  ip -n "$P-br" link set "${P}b$i" master br0 && ip -n "$P-br" link set "${P}b$i" up
  ip -n "$P-$n" link set "${P}v$i" name eth0 && ip -n "$P-$n" link set eth0 up
  ip -n "$P-$n" addr add "${ADDR[$n]}/24" dev eth0 || fail "address of $n"
  ip netns exec "$P-$n" sysctl -qw net.ipv4.conf.all.rp_filter=1 net.ipv4.conf.default.rp_filter=1
  mkdir -p "/etc/netns/$P-$n"
  { echo "127.0.0.1 localhost"; for h in kafka ca policy telemetry; do echo "${ADDR[$h]} $h"; done; } > "/etc/netns/$P-$n/hosts"
done
for n in node-a node-b; do
  script="$(compose "c['services']['$n']['command'][2].replace('\$\$', '\$')")"
  script="${script%%&& trap*}"                       # without the endless sleep
  ip netns exec "$P-$n" env PATH="$W/bin" sh -c "${script//\/tmp\/ready/$W/ready-$n}" || fail "holder $n: $script"
done
echo "namespaces ready: node-a ${ADDR[node-a]}, node-b ${ADDR[node-b]}"

# --- credentials: the init-* services' ca CLI commands, their volume paths mapped to the work dir
for s in init-policy-cert init-token-policy init-token-node-a init-token-node-b; do
  out="$(compose "[v.split(':')[0] for v in c['services']['$s']['volumes'] if v.split(':')[1] == '/out'][0]")"
  mapfile -t args < <(compose "'\n'.join(c['services']['$s']['command'])")
  args=("${args[@]//\/var\/lib\/jmesh\/ca/$W/vol/ca-state}")
  args=("${args[@]//\/out\//$W/vol/$out/}")
  java -jar "$R/services/ca/target/ca.jar" "${args[@]}" 2>>"$W/logs/ca-cli.log" || fail "$s: ${args[*]}"
done
for d in policy node-a node-b; do cp "$W/vol/ca-state/root-cert.pem" "$W/vol/$d-credentials/"; done
echo "credentials made"

# --- control plane
run_in() { local ns=$1 log=$2; shift 2; ip netns exec "$P-$ns" env "$@" >"$W/logs/$log.log" 2>&1 & pids+=($!); disown $!; }
cat > "$W/Kafka.java" <<'JAVA'
public class Kafka {
    public static void main(String[] a) throws Exception {
        io.jmesh.kafkalocal.LocalKafka k = io.jmesh.kafkalocal.LocalKafka.builder().dataDir(java.nio.file.Path.of(a[0]))
                .host(a[1]).port(9092).controllerPort(9093).build();
        k.start();
        System.out.println("kafka ready");
        Thread.sleep(Long.MAX_VALUE);
    }
}
JAVA
run_in kafka kafka java -cp "$R/tools/kafka-local/target/classes" "$W/Kafka.java" "$W/kafka" "${ADDR[kafka]}"
for _ in $(seq 120); do grep -q "kafka ready" "$W/logs/kafka.log" && break; sleep 1; done
grep -q "kafka ready" "$W/logs/kafka.log" || fail "kafka did not start"
J=(java -XX:+UseSerialGC -Xmx256m -jar)
CFG="$R/demo/compose/config"
run_in ca ca MESH_CONFIG="$CFG/ca.yaml" MESH_STATE_DIR="$W/vol/ca-state" "${J[@]}" "$R/services/ca/target/ca.jar"
C="$W/vol/policy-credentials"
run_in policy policy MESH_CONFIG="$CFG/policy.yaml" MESH_XDS_CERT_FILE="$C/cert.pem" MESH_XDS_KEY_FILE="$C/key.pem" \
  MESH_TOKEN_REVIEW_CA_FILE="$C/root-cert.pem" MESH_TOKEN_REVIEW_TOKEN_FILE="$C/token" \
  MESH_MANIFESTS_DIR="$R/demo/compose/manifests" "${J[@]}" "$R/services/policy/target/policy.jar"
run_in telemetry telemetry MESH_CONFIG="$CFG/telemetry.yaml" "${J[@]}" "$R/services/telemetry/target/telemetry.jar"

# --- the nodes: ztunnel with the compose environment, and the demo workloads with their compose commands
for n in node-a node-b; do
  C="$W/vol/$n-credentials"
  mapfile -t env < <(compose "'\n'.join(k + '=' + str(v) for k, v in c['services']['ztunnel-$n']['environment'].items() if k != 'MESH_CONFIG')")
  run_in "$n" "ztunnel-$n" "${env[@]}" MESH_CONFIG="$CFG/ztunnel.yaml" \
    MESH_DISCOVERY_TOKEN_FILE="$C/token" MESH_DISCOVERY_ROOT_CERT_FILE="$C/root-cert.pem" \
    MESH_IDENTITY_TOKEN_FILE="$C/token" MESH_IDENTITY_ROOT_CERT_FILE="$C/root-cert.pem" \
    "${J[@]}" "$R/services/ztunnel/target/ztunnel.jar"
done
for w in productpage reviews echo; do
  ns="$(compose "c['services']['$w']['network_mode'].split(':')[1]")"
  mapfile -t args < <(compose "'\n'.join(c['services']['$w']['command'])")
  run_in "$ns" "$w" java -cp "$R/tools/local-mesh/target/classes" io.jmesh.localmesh.demo.DemoApps "${args[@]}"
done
PROBE=(java -cp "$R/services/mesh-core/target/classes" io.jmesh.core.admin.HealthProbe)
ready=""
for _ in $(seq 180); do
  if ip netns exec "$P-node-a" "${PROBE[@]}" http://10.10.1.1:15021/healthz/ready >/dev/null 2>&1 \
      && ip netns exec "$P-node-b" "${PROBE[@]}" http://10.10.2.1:15021/healthz/ready >/dev/null 2>&1; then
    ready=yes; break
  fi
  sleep 1
done
[ -n "$ready" ] || fail "the ztunnels did not become ready"
echo "both ztunnels ready"

# --- the promise
URL=http://reviews.default.svc.cluster.local:9080/reviews
ok="$(ip netns exec "$P-node-a" curl -s -m 20 --interface 10.10.1.11 --socks5-hostname 10.10.1.1:15080 "$URL")" \
  || fail "productpage -> reviews: curl exit $?"
echo "as productpage: $ok"
[[ "$ok" == *'"service":"reviews"'* ]] || fail "productpage -> reviews: $ok"
if ip netns exec "$P-node-a" curl -s -m 20 --interface 10.10.1.12 --socks5-hostname 10.10.1.1:15080 "$URL"; then
  fail "sleep -> reviews was not denied"
fi
echo "as sleep: denied"
page="$(ip netns exec "$P-node-a" curl -s -m 20 http://10.10.1.11:9080/productpage)"
[[ "$page" == *'"reviews_answer"'* ]] || fail "productpage page: $page"
echo "productpage page: $page"
for _ in $(seq 30); do
  grep -q '"src.identity":"spiffe://cluster.local/ns/default/sa/productpage"' "$W/logs/ztunnel-node-b.log" && break; sleep 1
done
grep -q '"src.identity":"spiffe://cluster.local/ns/default/sa/productpage".*"dst.identity":"spiffe://cluster.local/ns/default/sa/reviews"' \
  "$W/logs/ztunnel-node-b.log" || fail "node-b's access log names no productpage -> reviews connection"
grep -q '"src.workload":"sleep".*"response_flags":"DENY"' "$W/logs/ztunnel-node-b.log" || fail "node-b logged no deny for sleep"
echo "node-b access log: productpage -> reviews with both SPIFFE identities, sleep denied"
metrics=""
for _ in $(seq 60); do
  metrics="$(ip netns exec "$P-telemetry" curl -s "http://${ADDR[telemetry]}:15014/metrics" \
    | grep 'istio_tcp_connections_opened_total{connection_security_policy="mutual_tls"' | grep 'source_workload="productpage"')" && break
  sleep 1
done
[ -n "$metrics" ] || fail "telemetry has no mutual_tls productpage -> reviews connection"
echo "telemetry: istio_tcp_connections_opened_total{connection_security_policy=\"mutual_tls\",...,source_workload=\"productpage\"}"
echo "compose emulation: OK"
