#!/usr/bin/env bash
# make images: one OCI image tarball per service in dist/images/<service>.tar, built by Jib without a
# Docker daemon or a registry. Load one with `docker load -i dist/images/ca.tar` (image jmesh/ca:<version>).
# Also dist/images/demo.tar (jmesh/demo): the demo workloads docker-compose.yml runs (tools/local-mesh).
#
# Then, when run as root, smoke-tests every image without a container engine (tools/images/check.py).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
# image name:module that builds it (Jib, configured in the module's pom); DockerComposeTest reads this list
images=(ca:services/ca policy:services/policy ztunnel:services/ztunnel telemetry:services/telemetry
  waypoint-mgr:services/waypoint-mgr demo:tools/local-mesh)
MVN="${MVN:-mvn -B -ntp}"

tools/images/runtime.sh
tools/images/capture-tools.sh
modules="$(printf '%s,' "${images[@]#*:}")"
$MVN -DskipTests -Dimage.runtime.dir="$repo/.cache/images/runtime" \
  -Dimage.captureTools.dir="$repo/.cache/images/capture-tools" -pl "${modules%,}" -am \
  package com.google.cloud.tools:jib-maven-plugin:buildTar

mkdir -p dist/images
for i in "${images[@]}"; do
  cp "${i#*:}/target/image/${i%%:*}.tar" "dist/images/${i%%:*}.tar"
done
ls -lh dist/images/*.tar

if [ "$(id -u)" = 0 ] && [ -z "${JMESH_SKIP_IMAGE_CHECK:-}" ]; then
  python3 tools/images/check.py $(printf 'dist/images/%s.tar ' "${images[@]%%:*}")
else
  echo "images: not root, so the chroot smoke test (tools/images/check.py) was skipped"
fi
