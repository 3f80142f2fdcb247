#!/usr/bin/env bash
# make charts: lint and render the umbrella chart (charts/jmesh) with a real helm, then check what it
# renders (tools/charts/check_rendered.py): every object well formed, images named after their
# component, and every configuration file accepted by the service it is for (no unknown keys).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
helm="$(tools/charts/helm.sh)"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

"$helm" lint --strict charts/jmesh
# default values, then variants a user is likely to set
"$helm" template jmesh charts/jmesh -n istio-system --include-crds > "$out/default.yaml"
"$helm" template jmesh charts/jmesh -n istio-system \
  --set global.imageRegistry=registry.example.com/mesh --set global.imageTag=1.2.3 \
  --set ca.persistence.enabled=false --set global.logLevel=debug \
  --set global.network=net-west --set ca.terminationGracePeriodSeconds=10 --set policy.terminationGracePeriodSeconds=60 \
  --set telemetry.config.drainDeadline=5s --set ztunnel.config.drainDeadline=5s > "$out/custom.yaml"
# a Kafka of fewer than 3 brokers: the config log policy creates, and telemetry's topics, have the copies asked for
# (each render goes to a file first: `grep -q` stops reading at its match, and under pipefail the helm it cut off
# would fail the check)
"$helm" template jmesh charts/jmesh -n istio-system -s charts/policy/templates/policy.yaml \
  --set global.kafka.replicationFactor=1 > "$out/policy-rf1.yaml"
grep -q '^      replicationFactor: 1$' "$out/policy-rf1.yaml" \
  || { echo "charts: global.kafka.replicationFactor did not reach policy" >&2; exit 1; }
"$helm" template jmesh charts/jmesh -n istio-system -s charts/telemetry/templates/telemetry.yaml \
  --set global.kafka.replicationFactor=1 > "$out/telemetry-rf1.yaml"
grep -q '^      replicationFactor: 1$' "$out/telemetry-rf1.yaml" \
  || { echo "charts: global.kafka.replicationFactor did not reach telemetry" >&2; exit 1; }
# the network reaches ztunnel's node.network (endpoints elsewhere go through east-west gateways)
grep -q 'network: net-west' "$out/custom.yaml" || { echo "charts: global.network did not reach ztunnel" >&2; exit 1; }
# ca's replicas share the state volume: a volume one node mounts takes one replica, and asking for more is refused
# naming the way out; a ReadWriteMany one takes several. Control planes of several replicas (each under a
# PodDisruptionBudget)
"$helm" template jmesh charts/jmesh -n istio-system --set ca.replicas=2 \
  --set ca.persistence.accessMode=ReadWriteMany --set policy.replicas=3 --set telemetry.replicas=2 \
  --set waypoint-mgr.replicas=2 > "$out/shared-state.yaml"
# a component's own topologySpreadConstraints replace global.topologySpread's
"$helm" template jmesh charts/jmesh -n istio-system -s charts/policy/templates/policy.yaml --set policy.replicas=2 \
  --set-json 'policy.topologySpreadConstraints=[{"topologyKey":"example.com/rack","maxSkew":2,"whenUnsatisfiable":"DoNotSchedule","labelSelector":{"matchLabels":{"app.kubernetes.io/name":"policy"}}}]' \
  > "$out/policy-spread.yaml"
grep -q 'topologyKey: example.com/rack' "$out/policy-spread.yaml" && ! grep -q 'topologyKey: kubernetes.io/hostname' "$out/policy-spread.yaml" \
  || { echo "charts: policy.topologySpreadConstraints did not replace global.topologySpread" >&2; exit 1; }
if err="$("$helm" template jmesh charts/jmesh -n istio-system --set ca.replicas=2 2>&1)"; then
  echo "charts: ca.replicas=2 on a ReadWriteOnce state volume was accepted" >&2; exit 1
fi
grep -q 'ca.replicas: 2 replicas cannot share' <<< "$err" \
  || { echo "charts: ca.replicas=2 on a ReadWriteOnce state volume refused without saying why: $err" >&2; exit 1; }
if err="$("$helm" template jmesh charts/jmesh -n istio-system --set ca.replicas=2 --set ca.persistence.enabled=false 2>&1)"; then
  echo "charts: ca.replicas=2, each on a state directory of its own, was accepted" >&2; exit 1
fi
grep -q 'ca.replicas: 2 replicas must share one state directory' <<< "$err" \
  || { echo "charts: ca.replicas=2 without persistence refused without saying why: $err" >&2; exit 1; }
if err="$("$helm" template jmesh charts/jmesh -n istio-system --set ca.persistence.accessMode=RWX 2>&1)"; then
  echo "charts: ca.persistence.accessMode=RWX was accepted" >&2; exit 1
fi
grep -q 'ca.persistence.accessMode: "RWX" is neither' <<< "$err" \
  || { echo "charts: ca.persistence.accessMode=RWX refused without saying why: $err" >&2; exit 1; }
"$helm" template jmesh charts/jmesh -n istio-system \
  --set telemetry.enabled=false --set waypoint-mgr.enabled=false > "$out/minimal.yaml"
"$helm" template jmesh charts/jmesh -n istio-system --set ztunnel.inpod.enabled=true > "$out/inpod.yaml"
# the small-footprint JVM profile reaches ztunnel's environment; an unknown profile is refused, naming the value
"$helm" template jmesh charts/jmesh -n istio-system --set ztunnel.footprint=small > "$out/small.yaml"
grep -q 'TieredStopAtLevel=1' "$out/small.yaml" && grep -A1 MALLOC_ARENA_MAX "$out/small.yaml" | grep -q '"1"' \
  || { echo "charts: ztunnel.footprint=small did not reach ztunnel's JVM" >&2; exit 1; }
if grep -q 'TieredStopAtLevel' "$out/default.yaml"; then
  echo "charts: the default ztunnel footprint runs the small profile's flags" >&2; exit 1
fi
if err="$("$helm" template jmesh charts/jmesh -n istio-system --set ztunnel.footprint=tiny 2>&1)"; then
  echo "charts: ztunnel.footprint=tiny was accepted" >&2; exit 1
fi
grep -q 'ztunnel.footprint: "tiny" is neither' <<< "$err" \
  || { echo "charts: ztunnel.footprint=tiny refused without saying why: $err" >&2; exit 1; }

# the mesh root namespace (policies there without a selector apply mesh-wide) is the control plane's own, as
# istiod's (meshConfig.rootNamespace defaults to its istioNamespace), unless global.rootNamespace says otherwise
pol=(-s charts/policy/templates/policy.yaml)
"$helm" template jmesh charts/jmesh -n jmesh-system "${pol[@]}" > "$out/policy-ns.yaml"
grep -q '^      rootNamespace: jmesh-system$' "$out/policy-ns.yaml" \
  || { echo "charts: installed into jmesh-system, policy's mesh.rootNamespace is not jmesh-system" >&2; exit 1; }
"$helm" template jmesh charts/jmesh -n jmesh-system "${pol[@]}" --set global.rootNamespace=mesh-root \
  > "$out/policy-root.yaml"
grep -q '^      rootNamespace: mesh-root$' "$out/policy-root.yaml" \
  || { echo "charts: global.rootNamespace did not reach policy's mesh.rootNamespace" >&2; exit 1; }

# ztunnel's drain deadline follows its pod's grace period, as Istio derives it (grace - 5 s; - 1 s up to 10 s)
# (in its configuration file, so that ztunnel.config.drainDeadline still goes over it)
zt=(-s charts/ztunnel/templates/ztunnel.yaml)
"$helm" template jmesh charts/jmesh -n istio-system "${zt[@]}" > "$out/ztunnel-30.yaml"
grep -q '^    drainDeadline: 25s$' "$out/ztunnel-30.yaml" \
  || { echo "charts: ztunnel's drain deadline is not the 30 s grace period less 5 s" >&2; exit 1; }
"$helm" template jmesh charts/jmesh -n istio-system "${zt[@]}" --set ztunnel.terminationGracePeriodSeconds=8 \
  > "$out/ztunnel-8.yaml"
grep -q '^    drainDeadline: 7s$' "$out/ztunnel-8.yaml" \
  || { echo "charts: an 8 s grace period does not give ztunnel a 7 s drain deadline" >&2; exit 1; }

# dual-stack nodes: ztunnel learns its second address from status.hostIPs, a field Kubernetes accepts from 1.29 on
grep -q 'fieldPath: status.hostIPs' "$out/default.yaml" \
  || { echo "charts: ztunnel does not get status.hostIPs (node.dualStackAddress)" >&2; exit 1; }
if "$helm" template jmesh charts/jmesh -n istio-system --kube-version 1.27.0 | grep -q 'status.hostIPs'; then
  echo "charts: status.hostIPs rendered for Kubernetes 1.27, which refuses the field" >&2; exit 1
fi

/usr/bin/python3 tools/charts/check_rendered.py "$repo" \
  "$out/default.yaml" "$out/custom.yaml:registry.example.com/mesh/:1.2.3" "$out/minimal.yaml:::ca,policy,ztunnel" "$out/inpod.yaml" "$out/small.yaml" "$out/shared-state.yaml"
echo "charts: ok"
