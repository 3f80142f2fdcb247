#!/usr/bin/env python3
"""Smoke-tests jmesh image tarballs without a container engine (root only).

For each tarball: unpack its layers in order into a root file system, read the image config (entrypoint,
environment, user, working directory), then run the entrypoint the way a container runtime would: in new
mount, PID and network namespaces (loopback only, so nothing it binds can clash with or reach the host),
chrooted, as the image's user. It passes when the service logs its effective configuration, serves
/metrics on its admin port, passes its docker-compose.yml healthcheck command run inside the image (the
images have no shell or curl: io.jmesh.core.admin.HealthProbe with the image's java), and exits 0 after
SIGTERM. ztunnel's image must also initialise JNA (in-pod mode's native calls). The demo image (jmesh/demo) instead serves reviews on 127.0.20.11:9080 and passes `DemoApps --probe`.
"""
import json, os, shutil, signal, subprocess, sys, tarfile, tempfile, time

ADMIN_PORT = 15014          # every service's admin port inside its own network namespace
ZTUNNEL_METRICS_PORT = 15020
# the healthcheck docker-compose.yml runs in the images (a fresh, small JVM on the image's class path)
PROBE_JAVA = ["java", "-XX:+UseSerialGC", "-Xmx32m", "-XX:TieredStopAtLevel=1", "-cp", "@/app/jib-classpath-file"]

INSIDE = r'''
import os, signal, subprocess, sys, time, urllib.request, json
root, spec = sys.argv[1], json.loads(sys.argv[2])
subprocess.run(["ip", "link", "set", "lo", "up"], check=True)

def spawn(argv):
    pid = os.fork()
    if pid == 0:
        os.chroot(root)
        os.chdir(spec["workdir"] or "/")
        uid, _, gid = (spec["user"] or "0:0").partition(":")
        os.setgroups([]); os.setgid(int(gid or uid)); os.setuid(int(uid))
        env = dict(e.split("=", 1) for e in spec["env"])
        exe = argv[0] if "/" in argv[0] else next(
            p + "/" + argv[0] for p in env.get("PATH", "/bin").split(":") if os.path.exists(p + "/" + argv[0]))
        os.execve(exe, argv, env)
    return pid

pid = spawn(spec["argv"])
ok = False
for _ in range(120):                      # up to 60 s for the JVM to start on a busy machine
    time.sleep(0.5)
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        print("exited early with status %d" % os.waitstatus_to_exitcode(status)); sys.exit(1)
    try:
        with urllib.request.urlopen(spec["url"], timeout=2) as r:
            ok = r.status == 200 and spec["expect"].encode() in r.read()
    except OSError:
        continue
    if ok:
        break
probe_code = -1
if ok:
    for argv in spec["probes"]:
        probe_code = -1
        probe = spawn(argv)
        for _ in range(120):
            done, pstatus = os.waitpid(probe, os.WNOHANG)
            if done:
                probe_code = os.waitstatus_to_exitcode(pstatus)
                break
            time.sleep(0.5)
        else:
            os.kill(probe, signal.SIGKILL); os.waitpid(probe, 0)
        if probe_code != 0:
            print("probe %s exited with %d" % (" ".join(argv[-2:]), probe_code))
            break
os.kill(pid, signal.SIGTERM)
for _ in range(120):
    done, status = os.waitpid(pid, os.WNOHANG)
    if done:
        break
    time.sleep(0.5)
else:
    os.kill(pid, signal.SIGKILL); os.waitpid(pid, 0)
    print("did not stop within 60 s of SIGTERM"); sys.exit(1)
code = os.waitstatus_to_exitcode(status)
print("served: %s, healthcheck exit code: %d, exit code after SIGTERM: %d" % (ok, probe_code, code))
sys.exit(0 if ok and probe_code == 0 and code == 0 else 1)
'''


def unpack(tarball, dest):
    # our own images: keep modes as they are (the "tar" filter would drop /tmp's world-write bit)
    with tarfile.open(tarball) as t:
        t.extractall(dest, filter="fully_trusted") if hasattr(tarfile, "data_filter") else t.extractall(dest)
    manifest = json.load(open(os.path.join(dest, "manifest.json")))[0]
    config = json.load(open(os.path.join(dest, manifest["Config"])))["config"]
    root = os.path.join(dest, "rootfs")
    os.makedirs(root)
    for layer in manifest["Layers"]:
        with tarfile.open(os.path.join(dest, layer)) as t:
            t.extractall(root, filter="fully_trusted") if hasattr(tarfile, "data_filter") else t.extractall(root)
    return root, config


def check(tarball):
    name = os.path.basename(tarball).removesuffix(".tar")
    work = tempfile.mkdtemp(prefix="jmesh-image-")
    try:
        root, config = unpack(tarball, work)
        os.makedirs(os.path.join(root, "proc"), exist_ok=True)
        spec = {
            "argv": (config.get("Entrypoint") or []) + (config.get("Cmd") or []),
            "env": config.get("Env") or [],
            "user": config.get("User"),
            "workdir": config.get("WorkingDir"),
        }
        if name == "demo":
            # the demo apps with their `make run` defaults; reviews answers JSON naming itself
            spec.update(url="http://127.0.20.11:9080/reviews", expect='"service":"reviews"', marker="demo apps listening",
                        probes=[PROBE_JAVA + ["io.jmesh.localmesh.demo.DemoApps", "--probe", "127.0.20.11:9080"]])
        else:
            metrics = "http://127.0.0.1:%d/metrics" % (ZTUNNEL_METRICS_PORT if name == "ztunnel" else ADMIN_PORT)
            spec.update(url=metrics, expect="# TYPE", marker="effective configuration",
                        probes=[PROBE_JAVA + ["io.jmesh.core.admin.HealthProbe", metrics]])
            if name == "ztunnel":
                # in-pod mode's native calls: JNA must initialise on the image's runtime (it needs java.desktop)
                spec["probes"].append(PROBE_JAVA + ["com.sun.jna.Native"])
                # node-level transparent capture programs the node with these (capture.nftCommand, ipCommand)
                spec["probes"] += [["nft", "--version"], ["ip", "-V"]]
        if not spec["argv"]:
            return False, "no entrypoint"
        proc = subprocess.run(
            ["unshare", "--mount", "--pid", "--net", "--fork", "--mount-proc=" + os.path.join(root, "proc"),
             sys.executable, "-c", INSIDE, root, json.dumps(spec)],
            capture_output=True, text=True, timeout=180)
        out = proc.stdout + proc.stderr
        logged = spec["marker"] in out
        last = out.strip().splitlines()[-1] if out.strip() else ""
        if proc.returncode != 0 or not logged:
            return False, "%s\n--- output ---\n%s" % (last, out[-4000:])
        return True, last
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main(paths):
    if os.geteuid() != 0:
        print("check: skipped, needs root (chroot and namespaces)")
        return 0
    failed = 0
    for p in paths:
        ok, detail = check(p)
        print("%-28s %s  %s" % (os.path.basename(p), "ok  " if ok else "FAIL", detail))
        failed += not ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
