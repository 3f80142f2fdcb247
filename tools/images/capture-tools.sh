#!/usr/bin/env bash
# Builds the extra layer of the ztunnel image: nftables' `nft` and iproute2's `ip`, which node-level transparent
# capture runs to program its table and policy routing (docs/ztunnel.md "Transparent capture"), with the shared
# libraries they link against, copied from this machine (Debian packages nftables and iproute2).
#
# Only ztunnel's image gets them; the runtime layer (runtime.sh) already holds glibc and its loader.
# Output: .cache/images/capture-tools (rebuilt when either tool changes).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$repo/.cache/images/capture-tools"

tools=()
for t in nft ip; do
  p="$(command -v "$t" || true)"
  [ -n "$p" ] || { echo "capture-tools.sh: \`$t\` is missing (Debian: apt-get install nftables iproute2)" >&2; exit 1; }
  tools+=("$(readlink -f "$p")")
done

stamp="$(sha256sum "${tools[@]}" "$0" | sha256sum | cut -c1-16)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  exit 0
fi
rm -rf "$out"
mkdir -p "$out/usr/sbin" "$out/lib/x86_64-linux-gnu"
for t in "${tools[@]}"; do
  cp -L "$t" "$out/usr/sbin/$(basename "$t")"
  # every library the tool needs, under the name the loader asks for (the loader itself is the runtime's)
  while read -r lib; do
    case "$(basename "$lib")" in
      ld-linux-x86-64.so.2) ;;
      *) cp -L "$lib" "$out/lib/x86_64-linux-gnu/$(basename "$lib")" ;;
    esac
  done < <(ldd "$t" | grep -o '/[^ ]*' | sort -u)
done
echo "$stamp" > "$out/.stamp"
echo "capture-tools: $(du -sh "$out" | cut -f1) in $out"
