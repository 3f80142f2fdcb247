#!/usr/bin/env bash
# Builds the root file system every jmesh image starts from: a jlink'ed Java runtime in /opt/java plus
# the glibc libraries it (and Netty's native epoll/BoringSSL libraries) need, copied from this machine.
#
# Why not a base image: no registry but Maven Central, Debian and npm is reachable, so Jib builds FROM
# scratch and adds this directory as a layer. Output: .cache/images/runtime (rebuilt when the JDK changes).
set -euo pipefail
repo="$(cd "$(dirname "$0")/../.." && pwd)"
out="$repo/.cache/images/runtime"
jdk="${JAVA_HOME:-$(dirname "$(dirname "$(readlink -f "$(command -v javac)")")")}"

# Modules the services use (jdeps over the service jars, plus jdk.jfr and jdk.management for diagnostics),
# and jdk.httpserver for the demo workloads' image (jmesh/demo: DemoApps serves HTTP with it). java.desktop only
# because JNA (ztunnel's in-pod mode: setns, SEQPACKET) cannot initialise without its AWT classes; none is loaded
# outside in-pod mode.
modules=java.base,java.desktop,java.logging,java.management,java.naming,java.net.http,java.security.jgss,\
java.security.sasl,java.sql,java.xml,jdk.crypto.ec,jdk.crypto.cryptoki,jdk.httpserver,jdk.jfr,jdk.management,\
jdk.naming.dns,jdk.unsupported,jdk.zipfs

stamp="$("$jdk/bin/java" -version 2>&1 | head -1) $modules $(sha256sum "$0" | cut -c1-16)"
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$stamp" ]; then
  exit 0
fi
[ -d "$jdk/jmods" ] || { echo "runtime.sh: $jdk/jmods is missing (Debian: apt-get install openjdk-17-jdk-headless)" >&2; exit 1; }

rm -rf "$out"
mkdir -p "$out/opt" "$out/etc" "$out/tmp" "$out/proc" "$out/var/lib/jmesh"
# java.desktop's native libraries (AWT, fonts, sound, images) stay out: nothing renders, and they would pull X11
"$jdk/bin/jlink" --module-path "$jdk/jmods" --add-modules "$modules" --output "$out/opt/java" \
  --strip-debug --no-header-files --no-man-pages --compress=2 --exclude-files='glob:/java.desktop/**.so'

# Shared libraries: what the runtime's ELF files link against, plus glibc pieces Netty's extracted
# native libraries load (libdl, libpthread, librt, libm, libgcc_s).
libs=()
while IFS= read -r f; do
  while read -r lib; do libs+=("$lib"); done < <(ldd "$f" 2>/dev/null | grep -o '/[^ ]*' || true)
done < <(find "$out/opt/java" -type f \( -name '*.so' -o -perm -u+x \))
for name in libc.so.6 libm.so.6 libdl.so.2 libpthread.so.0 librt.so.1 libgcc_s.so.1 libz.so.1; do
  # awk reads to the end (no early exit): under pipefail a SIGPIPE'd ldconfig would fail the build
  p="$(ldconfig -p | awk -v n="$name" '$1 == n && /x86-64/ && !found { print $NF; found = 1 }')"
  [ -n "$p" ] && libs+=("$p")
done
# Each library goes to /lib/x86_64-linux-gnu under the name the loader asks for (the loader itself to
# /lib64), as regular files: image layers should not depend on this machine's merged-/usr symlinks.
for lib in $(printf '%s\n' "${libs[@]}" | sort -u); do
  [ -e "$lib" ] && [[ "$lib" != "$out"/* ]] || continue
  case "$(basename "$lib")" in
    ld-linux-x86-64.so.2) dest="$out/lib64" ;;
    *) dest="$out/lib/x86_64-linux-gnu" ;;
  esac
  mkdir -p "$dest"
  cp -L "$lib" "$dest/$(basename "$lib")"
done

# A non-root user (65532, as distroless images do) and name resolution from files, then DNS.
printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/var/lib/jmesh:/sbin/nologin\n' > "$out/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$out/etc/group"
printf 'hosts: files dns\n' > "$out/etc/nsswitch.conf"
echo "$stamp" > "$out/.stamp"
echo "runtime: $(du -sh "$out" | cut -f1) in $out"
