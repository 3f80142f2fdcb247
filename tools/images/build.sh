#!/usr/bin/env bash
# make images: one OCI image tarball per service in dist/images/<service>.tar, built by Jib without a
# Docker daemon or a registry. Load one with `docker load -i dist/images/ca.tar` (image jmesh/ca:<version>).
#
# Then, when run as root, smoke-tests every image without a container engine (tools/images/check.py).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$repo"
services=(ca policy ztunnel telemetry waypoint-mgr)
MVN="${MVN:-mvn -B -ntp}"

tools/images/runtime.sh
modules="$(printf 'services/%s,' "${services[@]}")"
$MVN -DskipTests -Dimage.runtime.dir="$repo/.cache/images/runtime" -pl "${modules%,}" -am \
  package com.google.cloud.tools:jib-maven-plugin:buildTar

mkdir -p dist/images
for s in "${services[@]}"; do
  cp "services/$s/target/image/$s.tar" "dist/images/$s.tar"
done
ls -lh dist/images/*.tar

if [ "$(id -u)" = 0 ] && [ -z "${JMESH_SKIP_IMAGE_CHECK:-}" ]; then
  python3 tools/images/check.py $(printf 'dist/images/%s.tar ' "${services[@]}")
else
  echo "images: not root, so the chroot smoke test (tools/images/check.py) was skipped"
fi
