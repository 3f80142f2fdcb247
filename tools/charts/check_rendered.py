#!/usr/bin/python3
"""Checks manifests rendered from charts/jmesh (Debian's python3 + python3-yaml).

Arguments: the repository, then one or more `rendered.yaml[:registryPrefix[:tag[:components]]]`.
Fails (exit 1) listing every problem found.
"""
import re
import sys
import yaml

COMPONENTS = ["ca", "policy", "ztunnel", "telemetry", "waypoint-mgr"]
WORKLOAD_KINDS = {"Deployment": "Deployment", "DaemonSet": "DaemonSet"}


def keys_of(tree, prefix=""):
    """Every key path of a YAML mapping ("admin.port"), with the mappings' own paths."""
    paths = set()
    if isinstance(tree, dict):
        for k, v in tree.items():
            p = prefix + str(k)
            paths.add(p)
            paths |= keys_of(v, p + ".")
    return paths


def check(repo, spec, problems):
    path, _, rest = spec.partition(":")
    registry, _, rest = rest.partition(":")
    tag, _, comps = rest.partition(":")
    expected = comps.split(",") if comps else COMPONENTS
    tag = tag or yaml.safe_load(open(repo + "/charts/jmesh/Chart.yaml"))["appVersion"]
    docs = [d for d in yaml.safe_load_all(open(path)) if d]
    seen = set()
    for d in docs:
        where = "%s: %s/%s" % (path.rsplit("/", 1)[-1], d.get("kind"), d.get("metadata", {}).get("name"))
        for field in ("apiVersion", "kind"):
            if not d.get(field):
                problems.append("%s: missing %s" % (where, field))
        if not d.get("metadata", {}).get("name"):
            problems.append("%s: missing metadata.name" % where)
        kind, name = d.get("kind"), d["metadata"].get("name")
        if kind in WORKLOAD_KINDS:
            seen.add(name)
            pod = d["spec"]["template"]
            if pod["metadata"]["labels"].get("app.kubernetes.io/name") != name:
                problems.append("%s: pod label app.kubernetes.io/name != %s" % (where, name))
            sel = d["spec"]["selector"]["matchLabels"]
            if any(pod["metadata"]["labels"].get(k) != v for k, v in sel.items()):
                problems.append("%s: selector %s does not match the pod labels" % (where, sel))
            for c in pod["spec"]["containers"]:
                want = "%sjmesh/%s:%s" % (registry, name, tag)
                if c["image"] != want:
                    problems.append("%s: image %s, expected %s" % (where, c["image"], want))
                if c.get("readinessProbe") is None:
                    problems.append("%s: no readinessProbe" % where)
                ports = {p["containerPort"] for p in c.get("ports", [])}
                probe_port = c["readinessProbe"]["httpGet"]["port"]
                if probe_port not in ports:
                    problems.append("%s: readiness port %s is not a container port" % (where, probe_port))
                mounts = {m["name"] for m in c.get("volumeMounts", [])}
                volumes = {v["name"] for v in pod["spec"].get("volumes", [])}
                if mounts - volumes:
                    problems.append("%s: mounts without volumes: %s" % (where, sorted(mounts - volumes)))
                if "--config" in c.get("args", []):
                    cm_file = c["args"][c["args"].index("--config") + 1].rsplit("/", 1)[-1]
                    if cm_file != name + ".yaml":
                        problems.append("%s: --config names %s" % (where, cm_file))
        if kind == "ConfigMap" and name == "jmesh-dashboards":
            import json, os
            files = sorted(f for f in os.listdir(repo + "/charts/jmesh/dashboards") if f.endswith(".json"))
            if sorted(d.get("data", {})) != files:
                problems.append("%s: dashboards %s, expected %s" % (where, sorted(d.get("data", {})), files))
            for file, text in d.get("data", {}).items():
                try:
                    if not json.loads(text).get("panels"):
                        problems.append("%s: %s has no panels" % (where, file))
                except ValueError as e:
                    problems.append("%s: %s is not JSON: %s" % (where, file, e))
        if kind == "ConfigMap" and name in COMPONENTS:
            known = keys_of(yaml.safe_load(open(
                "%s/services/%s/src/main/resources/%s-defaults.yaml" % (repo, name, name))))
            for file, text in d.get("data", {}).items():
                unknown = sorted(keys_of(yaml.safe_load(text) or {}) - known)
                if unknown:
                    problems.append("%s: %s has keys %s unknown to %s-defaults.yaml (the service would refuse "
                                    "to start)" % (where, file, unknown, name))
    if seen != set(expected):
        problems.append("%s: workloads %s, expected %s" % (path, sorted(seen), sorted(expected)))
    check_node_credentials(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_inpod(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_files_mounted(path.rsplit("/", 1)[-1], docs, problems)
    check_discovery(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_pod_named(path.rsplit("/", 1)[-1], docs, problems)
    check_cluster_source(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_crds(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_scrapable(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_node_capture(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_single_node_volumes(path.rsplit("/", 1)[-1], docs, problems)
    check_disruption_budgets(path.rsplit("/", 1)[-1], docs, problems)
    check_settings_in_file(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_config_log_replicated(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_outside_the_mesh(path.rsplit("/", 1)[-1], docs, problems)
    check_ca_replicas_share_state(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_jvm_fits_its_limit(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_api_token_only_where_used(repo, path.rsplit("/", 1)[-1], docs, problems)
    check_replicas_spread(path.rsplit("/", 1)[-1], docs, problems)
    check_telemetry_instance_named(repo, path.rsplit("/", 1)[-1], docs, problems)


def file_settings(tree, prefix=""):
    """Every (key path, value) of a configuration whose key names a file (certFile, tokenFile...), when set."""
    found = []
    if isinstance(tree, dict):
        for k, v in tree.items():
            p = prefix + str(k)
            if isinstance(v, dict):
                found += file_settings(v, p + ".")
            elif str(k).endswith("File") and isinstance(v, str) and v:
                found.append((p, v))
    return found


def check_files_mounted(where, docs, problems):
    """Each file a component's configuration names (certificates, keys, tokens, roots) is in a volume mounted into
    its container: otherwise the service refuses to start, or fails its first call."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for name in COMPONENTS:
        cm = by_kind.get(("ConfigMap", name))
        workload = by_kind.get(("Deployment", name)) or by_kind.get(("DaemonSet", name))
        if not (cm and workload):
            continue
        pod = workload["spec"]["template"]
        container = pod["spec"]["containers"][0]
        for key, file in file_settings(yaml.safe_load(cm["data"][name + ".yaml"]) or {}):
            if mounted_file(pod, container, file) is None:
                problems.append("%s: %s's %s %s is in no volume mounted into its container" % (where, name, key, file))


# settings a replica must take from its pod's name (stable across its container's restarts, unique among replicas)
POD_NAMED = {"telemetry": ["MESH_KAFKA_INSTANCE_ID", "MESH_OTLP_SERVICE_INSTANCE_ID"]}


def check_pod_named(where, docs, problems):
    """telemetry's transactional id (kafka.instanceId) and its OTLP service.instance.id come from the pod's name: a
    container restarted in its pod then fences its previous process's open transaction at once (a random id leaves
    the partitions' read_committed readers, itself included, waiting for that transaction's timeout) and goes on
    with the same OTLP series."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    for name, variables in POD_NAMED.items():
        workload = by_kind.get(("Deployment", name))
        if workload is None:
            continue
        env = {e["name"]: e for e in workload["spec"]["template"]["spec"]["containers"][0].get("env") or []}
        for v in variables:
            ref = (env.get(v) or {}).get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
            if ref != "metadata.name":
                problems.append("%s: %s's %s is not its pod's name (metadata.name)" % (where, name, v))


def check_discovery(repo, where, docs, problems):
    """ztunnel reaches policy: its discovery address is policy's Service and port, it trusts the roots ca publishes,
    and policy serves the certificate ca keeps for it under those roots: a Secret named in ca's
    kubernetes.servingSecrets for service policy, naming the address's host, that ca may write and the chart does
    not render (Helm would fight ca over it)."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    zt_cm, ds = by_kind.get(("ConfigMap", "ztunnel")), by_kind.get(("DaemonSet", "ztunnel"))
    pol_cm, pol = by_kind.get(("ConfigMap", "policy")), by_kind.get(("Deployment", "policy"))
    ca_cm = by_kind.get(("ConfigMap", "ca"))
    if not (zt_cm and ds and pol_cm and pol and ca_cm):
        return
    discovery = yaml.safe_load(zt_cm["data"]["ztunnel.yaml"]).get("discovery") or {}
    xds = yaml.safe_load(pol_cm["data"]["policy.yaml"]).get("xds") or {}
    k8s = ca_kubernetes(repo, ca_cm)
    host, _, port = discovery.get("address", "").rpartition(":")
    svc = by_kind.get(("Service", "policy"))
    ns_host = host.split(".")
    if not svc or ns_host[0] != "policy" or int(port or 0) not in [p["port"] for p in svc["spec"]["ports"]]:
        problems.append("%s: ztunnel's discovery.address %r is not policy's Service" % (where, discovery.get("address")))
        return
    roots = mounted_file(ds["spec"]["template"], ds["spec"]["template"]["spec"]["containers"][0],
                         discovery.get("rootCertFile", ""))
    if roots is None or roots[0].get("configMap", {}).get("name") != k8s["rootConfigMap"]:
        problems.append("%s: ztunnel's discovery.rootCertFile %r does not come from ca's ConfigMap %s"
                        % (where, discovery.get("rootCertFile"), k8s["rootConfigMap"]))
    container = pol["spec"]["template"]["spec"]["containers"][0]
    files = [mounted_file(pol["spec"]["template"], container, xds.get(k, "")) for k in ("certFile", "keyFile")]
    secrets = {f[0].get("secret", {}).get("secretName") for f in files if f}
    if None in files or len(secrets) != 1 or None in secrets:
        problems.append("%s: policy's xds.certFile and xds.keyFile do not come from one mounted Secret" % where)
        return
    name = secrets.pop()
    spec = next((s for s in k8s.get("servingSecrets") or [] if s.get("secret") == name), None)
    if spec is None or spec.get("service") != "policy":
        problems.append("%s: policy serves from the Secret %s, which ca's kubernetes.servingSecrets does not keep "
                        "for policy" % (where, name))
    elif host not in spec.get("dnsSans", []):
        problems.append("%s: ca issues policy's certificate for %s, ztunnels dial %s"
                        % (where, spec.get("dnsSans"), host))
    if ("Secret", name) in by_kind:
        problems.append("%s: the chart renders the Secret %s that ca writes" % (where, name))
    for verb in ("get", "update"):
        if not role_grants(by_kind, "secrets", verb, name):
            problems.append("%s: no Role grants ca %s on the secret %s" % (where, verb, name))


def ca_kubernetes(repo, ca_cm):
    """ca's kubernetes settings: its defaults with the rendered configuration over them."""
    defaults = yaml.safe_load(open(repo + "/services/ca/src/main/resources/ca-defaults.yaml"))["kubernetes"]
    return dict(defaults, **(yaml.safe_load(ca_cm["data"]["ca.yaml"]).get("kubernetes") or {}))


def role_grants(by_kind, resource, verb, name=None):
    """Whether a rendered Role or ClusterRole allows `verb` on `resource` (named `name`, when given)."""
    for (kind, _), d in by_kind.items():
        if kind not in ("Role", "ClusterRole"):
            continue
        for r in d.get("rules", []):
            names = r.get("resourceNames")
            if resource in r.get("resources", []) and verb in r.get("verbs", []) \
                    and (not names or name is None or name in names):
                return True
    return False


def check_cluster_source(repo, where, docs, problems):
    """policy's Kubernetes source may list and watch every kind it is configured to register: a ClusterRole bound
    to policy's ServiceAccount grants both on the kind's API group and resource (the paths in WatchedKind.java)."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    pol_cm = by_kind.get(("ConfigMap", "policy"))
    if not pol_cm:
        return
    defaults = yaml.safe_load(open(repo + "/services/policy/src/main/resources/policy-defaults.yaml"))["kubernetes"]
    k8s = dict(defaults, **(yaml.safe_load(pol_cm["data"]["policy.yaml"]).get("kubernetes") or {}))
    if not k8s.get("enabled"):
        return
    source = open(repo + "/services/policy/src/main/java/io/jmesh/policy/kubernetes/WatchedKind.java").read()
    paths = dict(re.findall(r'new WatchedKind\("(\w+)", "([^"]+)"', source))
    roles = set()
    for (kind, name), d in by_kind.items():
        if kind == "ClusterRoleBinding" and d["roleRef"]["kind"] == "ClusterRole" and any(
                s.get("kind") == "ServiceAccount" and s.get("name") == "policy" for s in d.get("subjects", [])):
            roles.add(d["roleRef"]["name"])
    for kind in k8s.get("kinds") or []:
        parts = paths[kind].strip("/").split("/")  # api/v1/pods, apis/<group>/v1/<resource>
        group, resource = ("" if parts[0] == "api" else parts[1]), parts[-1]
        for verb in ("list", "watch"):
            if not any(group in r.get("apiGroups", []) and resource in r.get("resources", [])
                       and verb in r.get("verbs", [])
                       for n in roles for r in by_kind.get(("ClusterRole", n), {}).get("rules", [])):
                problems.append("%s: no ClusterRole bound to policy grants %s on %s%s (kubernetes.kinds: %s)"
                                % (where, verb, group + "/" if group else "", resource, kind))
    election = dict(defaults.get("leaderElection") or {}, **(k8s.get("leaderElection") or {}))
    if election.get("enabled"):
        # the Lease is in the configured namespace; a Role there (or a ClusterRole) bound to policy must grant
        # what the election does with it
        namespace = election.get("namespace") or ""
        rules = []
        for (kind, name), d in by_kind.items():
            if kind in ("RoleBinding", "ClusterRoleBinding") and any(
                    s.get("kind") == "ServiceAccount" and s.get("name") == "policy" for s in d.get("subjects", [])):
                if kind == "RoleBinding" and d["metadata"].get("namespace") != namespace:
                    continue
                role = by_kind.get((d["roleRef"]["kind"], d["roleRef"]["name"]), {})
                rules += role.get("rules", [])
        for verb in ("get", "create", "update"):
            if not any("coordination.k8s.io" in r.get("apiGroups", []) and "leases" in r.get("resources", [])
                       and verb in r.get("verbs", []) for r in rules):
                problems.append("%s: nothing bound to policy grants %s on coordination.k8s.io/leases in namespace "
                                "'%s' (kubernetes.leaderElection)" % (where, verb, namespace))


def check_crds(repo, where, docs, problems):
    """When rendered with --include-crds: the chart defines Istio's custom resources policy registers (the
    Gateway API's are the cluster's own to install), each as policy reads it (WatchedKind.java): group, plural,
    kind, the version policy lists served, one storage version, and a schema for every version."""
    crds = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "CustomResourceDefinition"}
    if not crds:
        return
    source = open(repo + "/services/policy/src/main/java/io/jmesh/policy/kubernetes/WatchedKind.java").read()
    for kind, path, custom in re.findall(r'new WatchedKind\("(\w+)", "([^"]+)", (true|false),', source):
        if custom != "true":
            continue
        _, group, version, plural = path.strip("/").split("/")
        if group.endswith("gateway.networking.k8s.io"):
            continue
        crd = crds.get(plural + "." + group)
        if crd is None:
            problems.append("%s: no CustomResourceDefinition %s.%s for %s" % (where, plural, group, kind))
            continue
        spec = crd["spec"]
        versions = spec.get("versions", [])
        if spec.get("group") != group or spec["names"].get("kind") != kind or spec["names"].get("plural") != plural \
                or spec.get("scope") != "Namespaced":
            problems.append("%s: CRD %s does not define %s as policy reads it" % (where, crd["metadata"]["name"], kind))
        if not any(v["name"] == version and v.get("served") for v in versions):
            problems.append("%s: CRD %s does not serve %s, the version policy lists" % (where, crd["metadata"]["name"],
                                                                                     version))
        if sum(1 for v in versions if v.get("storage")) != 1 or not all(v.get("schema") for v in versions):
            problems.append("%s: CRD %s needs one storage version and a schema for each" % (where, crd["metadata"]["name"]))


def check_inpod(repo, where, docs, problems):
    """In-pod mode: ztunnel may setns (SYS_ADMIN), reaches istio-cni's socket on the host, and turns node-level
    capture off (the config refuses both at once). It rolls as Istio's ztunnel (the new one ready beside the old one
    before that one drains), which only works off the host network; node-level capture cannot overlap."""
    ds = next((d for d in docs if d.get("kind") == "DaemonSet" and d["metadata"]["name"] == "ztunnel"), None)
    if ds is None:
        return
    pod = ds["spec"]["template"]
    c = pod["spec"]["containers"][0]
    config = effective_config(repo, "ztunnel", docs)
    fields = {e["name"]: e.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath") for e in c.get("env", [])}
    caps = set(c["securityContext"]["capabilities"].get("add", []))
    rolling = ds["spec"].get("updateStrategy", {}).get("rollingUpdate", {})
    host_network = pod["spec"].get("hostNetwork", False)
    if not config["inpod"]["enabled"]:
        if "SYS_ADMIN" in caps:
            problems.append("%s: ztunnel has SYS_ADMIN without in-pod mode" % where)
        if rolling.get("maxSurge", 0) != 0 or rolling.get("maxUnavailable", 1) < 1:
            problems.append("%s: node-level ztunnel rolls with %s: a second one beside the old cannot bind the "
                            "node's ports (maxUnavailable: 1, no surge)" % (where, rolling))
        if not host_network:
            problems.append("%s: node-level ztunnel is not on the host network its capture rules are in" % where)
        return
    if rolling != {"maxSurge": 1, "maxUnavailable": 0}:
        problems.append("%s: in-pod ztunnel rolls with %s, not Istio's maxSurge 1, maxUnavailable 0 (each upgrade "
                        "would leave the node's pods without a proxy)" % (where, rolling))
    if host_network:
        problems.append("%s: in-pod ztunnel on the host network: a surge pod's ports would collide with the old "
                        "one's (the scheduler refuses it)" % where)
    if fields.get("MESH_NODE_ADDRESS") != "status.podIP":
        problems.append("%s: in-pod ztunnel's node.address comes from %s, not its own pod's address (off the host "
                        "network nothing else can be bound)" % (where, fields.get("MESH_NODE_ADDRESS")))
    if "MESH_NODE_DUAL_STACK_ADDRESS" in fields:
        problems.append("%s: in-pod ztunnel gets the host's second address, which is not its own" % where)
    if "SYS_ADMIN" not in caps:
        problems.append("%s: in-pod ztunnel without SYS_ADMIN cannot enter pods' namespaces" % where)
    if config["capture"]["enabled"]:
        problems.append("%s: in-pod ztunnel keeps node-level capture on (it would refuse to start)" % where)
    found = mounted_file(pod, c, config["inpod"]["socket"])
    if found is None or "hostPath" not in found[0]:
        problems.append("%s: istio-cni's socket %s is not on a hostPath mount" % (where, config["inpod"]["socket"]))


def mounted_file(pod, container, file):
    """The volume of `pod` that provides `file` in `container`, or None."""
    for m in container.get("volumeMounts", []):
        if file.startswith(m["mountPath"].rstrip("/") + "/"):
            for v in pod["spec"].get("volumes", []):
                if v["name"] == m["name"]:
                    return v, file[len(m["mountPath"].rstrip("/")) + 1:]
    return None


def check_node_credentials(repo, where, docs, problems):
    """In Kubernetes mode ztunnel must present a projected token for one of ca's audiences, and read the roots
    from the ConfigMap ca publishes; ca needs RBAC for TokenReview, its Secret and that ConfigMap."""
    by_kind = {}
    for d in docs:
        by_kind.setdefault((d["kind"], d["metadata"]["name"]), d)
    ca_cm = by_kind.get(("ConfigMap", "ca"))
    zt_cm = by_kind.get(("ConfigMap", "ztunnel"))
    ds = by_kind.get(("DaemonSet", "ztunnel"))
    if not (ca_cm and zt_cm and ds):
        return
    k8s = ca_kubernetes(repo, ca_cm)
    if not k8s.get("enabled"):
        return
    identity = yaml.safe_load(zt_cm["data"]["ztunnel.yaml"]).get("identity") or {}
    pod = ds["spec"]["template"]
    container = pod["spec"]["containers"][0]
    token = mounted_file(pod, container, identity.get("tokenFile", ""))
    if token is None:
        problems.append("%s: ztunnel identity.tokenFile %r is not in a mounted volume" % (where, identity.get("tokenFile")))
    else:
        sources = [s.get("serviceAccountToken") for s in token[0].get("projected", {}).get("sources", [])]
        if not any(s and s.get("path") == token[1] and s.get("audience") in k8s["audiences"] for s in sources):
            problems.append("%s: ztunnel's token %s is not a projected ServiceAccount token for one of ca's "
                            "audiences %s" % (where, identity.get("tokenFile"), k8s["audiences"]))
    roots = mounted_file(pod, container, identity.get("rootCertFile", ""))
    if roots is None or roots[0].get("configMap", {}).get("name") != k8s["rootConfigMap"]:
        problems.append("%s: ztunnel identity.rootCertFile %r does not come from ca's ConfigMap %s"
                        % (where, identity.get("rootCertFile"), k8s["rootConfigMap"]))
    if pod["spec"].get("serviceAccountName") != k8s["nodeServiceAccount"]:
        problems.append("%s: ztunnel runs as %s, ca authenticates nodes as %s" % (
            where, pod["spec"].get("serviceAccountName"), k8s["nodeServiceAccount"]))
    for res, verb, name in [("tokenreviews", "create", None), ("pods", "get", None), ("secrets", "create", None),
                            ("secrets", "get", k8s["rootSecret"]), ("secrets", "update", k8s["rootSecret"]),
                            ("configmaps", "create", None), ("configmaps", "get", k8s["rootConfigMap"]),
                            ("configmaps", "update", k8s["rootConfigMap"])]:
        if not role_grants(by_kind, res, verb, name):
            problems.append("%s: no Role grants ca %s on %s%s" % (where, verb, res, " " + name if name else ""))


def check_scrapable(repo, where, docs, problems):
    """Every pod annotated for Prometheus serves /metrics on an address Prometheus reaches (not the loopback), and
    ztunnel keeps SOCKS5 off: on the node address any pod of the node could use it (Istio's is off too)."""
    maps = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "ConfigMap"}
    for d in docs:
        if d.get("kind") not in WORKLOAD_KINDS:
            continue
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]
        if pod["metadata"].get("annotations", {}).get("prometheus.io/scrape") != "true":
            continue
        c = pod["spec"]["containers"][0]
        env = {e["name"]: e.get("value") for e in c.get("env", [])}
        defaults = yaml.safe_load(open("%s/services/%s/src/main/resources/%s-defaults.yaml" % (repo, name, name)))
        cm = maps.get(name)
        config = yaml.safe_load(cm["data"][name + ".yaml"]) if cm else {}
        host = env.get("MESH_ADMIN_HOST") or (config.get("admin") or {}).get("host") or defaults["admin"]["host"]
        if host.startswith("127.") or host in ("localhost", "::1"):
            problems.append("%s: %s/%s is scraped by Prometheus but serves /metrics on %s only"
                            % (where, d["kind"], name, host))
        if name == "ztunnel" and (config.get("listeners") or {}).get("socks5", defaults["listeners"]["socks5"]) != -1:
            problems.append("%s: ztunnel's SOCKS5 listener is on (every pod of the node could use it)" % where)


def env_name(path):
    """The MESH_* variable of a key path, as ConfigLoader names it (admin.port -> MESH_ADMIN_PORT)."""
    return "MESH_" + re.sub(r"([A-Z])", r"_\1", re.sub(r"[.-]", "_", path)).upper()


def effective_config(repo, name, docs):
    """What a component runs with: its defaults, the rendered configuration file over them, then its container's
    MESH_* environment (values read as YAML scalars), as ConfigLoader merges them; None if it is not rendered."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    cm = by_kind.get(("ConfigMap", name))
    workload = by_kind.get(("Deployment", name)) or by_kind.get(("DaemonSet", name))
    if not (cm and workload):
        return None

    def merge(base, over):
        for k, v in over.items():
            if isinstance(v, dict) and isinstance(base.get(k), dict):
                merge(base[k], v)
            else:
                base[k] = v
        return base

    config = yaml.safe_load(open("%s/services/%s/src/main/resources/%s-defaults.yaml" % (repo, name, name)))
    merge(config, yaml.safe_load(cm["data"][name + ".yaml"]) or {})
    env = {e["name"]: e["value"] for e in workload["spec"]["template"]["spec"]["containers"][0].get("env", [])
           if "value" in e}
    for path in keys_of(config):
        if env_name(path) in env:
            parent = config
            *head, leaf = path.split(".")
            for k in head:
                parent = parent[k]
            parent[leaf] = yaml.safe_load(env[env_name(path)])
    return config


def check_node_capture(repo, where, docs, problems):
    """Node-level mode (no in-pod): the host-network ztunnel with NET_ADMIN is there to capture its node's ambient
    pods with TPROXY, so it must run with transparent listeners and capture on, and bind 15008/15006 once on the
    node address (TPROXY keeps the pod as local address): otherwise no pod's traffic goes through the mesh, and
    ztunnel tries to bind the pods' own addresses, which the host network does not have."""
    config = effective_config(repo, "ztunnel", docs)
    if config is None or config["inpod"]["enabled"]:
        return
    listeners, capture = config["listeners"], config["capture"]
    if not (listeners["transparent"] and capture["enabled"]):
        problems.append("%s: node-level ztunnel runs with listeners.transparent: %s, capture.enabled: %s: it "
                        "captures no pod's traffic" % (where, listeners["transparent"], capture["enabled"]))
    if listeners["inboundPerWorkload"]:
        problems.append("%s: node-level ztunnel runs with listeners.inboundPerWorkload: true: it binds 15008/15006 "
                        "on pods' addresses, not on the node's, where TPROXY delivers" % where)


def check_single_node_volumes(where, docs, problems):
    """A Deployment whose pods mount a ReadWriteOnce claim (one node at a time) runs one replica and is rolled by
    Recreate: a second replica, or a rolling update's surge pod, scheduled on another node could never attach the
    volume, and with maxUnavailable 0 (one replica's 25 %, rounded down) the old pod waits for the new one for
    ever."""
    claims = {d["metadata"]["name"]: d for d in docs if d.get("kind") == "PersistentVolumeClaim"}
    for d in docs:
        if d.get("kind") != "Deployment":
            continue
        for v in d["spec"]["template"]["spec"].get("volumes", []):
            claim = claims.get((v.get("persistentVolumeClaim") or {}).get("claimName"))
            if claim is None or "ReadWriteMany" in claim["spec"].get("accessModes", []):
                continue
            name = d["metadata"]["name"]
            if d["spec"].get("replicas", 1) > 1:
                problems.append("%s: Deployment/%s runs %s replicas on the %s claim %s" % (
                    where, name, d["spec"]["replicas"], claim["spec"].get("accessModes"), claim["metadata"]["name"]))
            if (d["spec"].get("strategy") or {}).get("type") != "Recreate":
                problems.append("%s: Deployment/%s rolls by %s with the %s claim %s (the new pod may never attach "
                                "it)" % (where, name, (d["spec"].get("strategy") or {}).get("type", "RollingUpdate"),
                                         claim["spec"].get("accessModes"), claim["metadata"]["name"]))


def check_disruption_budgets(where, docs, problems):
    """A control-plane Deployment of several replicas has a PodDisruptionBudget over exactly its pods that keeps one
    up (as istiod's): otherwise a node drain may evict every replica at once. One of a single replica has none: a
    budget keeping it up would block every drain of its node."""
    budgets = [d for d in docs if d.get("kind") == "PodDisruptionBudget"]
    for d in docs:
        if d.get("kind") != "Deployment":
            continue
        name, replicas = d["metadata"]["name"], d["spec"].get("replicas", 1)
        labels = d["spec"]["template"]["metadata"]["labels"]
        mine = [b for b in budgets if b["spec"].get("selector", {}).get("matchLabels") == d["spec"]["selector"]["matchLabels"]
                and all(labels.get(k) == v for k, v in b["spec"]["selector"]["matchLabels"].items())]
        if replicas > 1:
            if len(mine) != 1:
                problems.append("%s: Deployment/%s runs %d replicas with %d PodDisruptionBudgets over its pods, not one"
                                % (where, name, replicas, len(mine)))
            elif not (mine[0]["spec"].get("minAvailable") == 1 or mine[0]["spec"].get("maxUnavailable") == 1):
                problems.append("%s: PodDisruptionBudget of Deployment/%s does not keep one replica up: %s"
                                % (where, name, mine[0]["spec"]))
        elif mine:
            problems.append("%s: Deployment/%s runs one replica under a PodDisruptionBudget (its node could never "
                            "be drained)" % (where, name))


def duration_seconds(text):
    """A configuration duration (500ms, 25s, 5m, 24h, 90d; Durations.java) in seconds."""
    m = re.fullmatch(r"\s*(\d+)\s*(ms|s|m|h|d)\s*", str(text))
    if not m:
        raise ValueError("duration %r" % text)
    return int(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def check_settings_in_file(repo, where, docs, problems):
    """What the chart sets for a component is in its configuration file, where the user's `config` goes over it: a
    MESH_* variable with a fixed value overrides the file, so the user's setting of that key was silently ignored
    (per-pod values from the downward API are the environment's). And the drain the component runs with ends
    before its pod's grace period does, or the kubelet kills it mid-drain."""
    for d in docs:
        if d.get("kind") not in WORKLOAD_KINDS or d["metadata"]["name"] not in COMPONENTS:
            continue
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        config = effective_config(repo, name, docs)
        known = {env_name(k): k for k in keys_of(config)}
        for e in pod["containers"][0].get("env", []):
            if "value" in e and e["name"] in known:
                problems.append("%s: %s/%s sets %s in its environment, over its configuration file: a %s.config.%s "
                                "is ignored" % (where, d["kind"], name, e["name"], name, known[e["name"]]))
        grace = pod.get("terminationGracePeriodSeconds", 30)
        if duration_seconds(config["drainDeadline"]) >= grace:
            problems.append("%s: %s/%s drains for %s, its pod's grace period is %ss" % (
                where, d["kind"], name, config["drainDeadline"], grace))


def check_config_log_replicated(repo, where, docs, problems):
    """policy creates the config log (every source's configuration, the mesh's one record of it) on the cluster's
    Kafka when it is missing, and telemetry its topics: with the chart's defaults in more than one copy, or one
    broker's loss loses them."""
    config = effective_config(repo, "policy", docs)
    if config is not None and config["kafka"]["replicationFactor"] < 2:
        problems.append("%s: policy creates the config log with kafka.replicationFactor %s (one broker holds the "
                        "mesh's configuration)" % (where, config["kafka"]["replicationFactor"]))
    # telemetry's events and the checkpoints that make its counting exactly-once: 0 is min(3, brokers), 1 is one
    # broker's loss away from losing them
    config = effective_config(repo, "telemetry", docs)
    if config is not None and config["kafka"]["createTopics"] and config["kafka"]["replicationFactor"] == 1:
        problems.append("%s: telemetry creates its topics with kafka.replicationFactor 1 (one broker holds every "
                        "event and checkpoint)" % where)


def check_outside_the_mesh(where, docs, problems):
    """The mesh's own pods stay out of it, as Istio's ztunnel does, whatever their namespace's labels: not captured
    (istio.io/dataplane-mode: none, which policy and istio-cni read before the namespace's label; for istio-cni also
    ambient.istio.io/redirection: disabled) and never given a sidecar by an Istio injector. An in-pod ztunnel that
    istio-cni enrolled would have its own traffic sent to itself."""
    want_labels = {"istio.io/dataplane-mode": "none", "sidecar.istio.io/inject": "false"}
    want_annotations = {"ambient.istio.io/redirection": "disabled", "sidecar.istio.io/inject": "false"}
    for d in docs:
        if d.get("kind") not in WORKLOAD_KINDS:
            continue
        meta = d["spec"]["template"]["metadata"]
        for field, want in (("labels", want_labels), ("annotations", want_annotations)):
            have = meta.get(field) or {}
            missing = {k: v for k, v in want.items() if have.get(k) != v}
            if missing:
                problems.append("%s: %s/%s pods lack the %s %s" % (where, d["kind"], d["metadata"]["name"], field,
                                                                   missing))


def check_ca_replicas_share_state(repo, where, docs, problems):
    """Several ca replicas share one state directory (docs/ca.md, "Several replicas"): revocations, identity
    revocation markers and every replica's issuance journal live there, and nothing else carries them from one
    replica to another. On a volume of its own a replica neither puts another's revocations in its CRL nor finds
    the certificates another issued to an identity being revoked: ztunnels following it accept revoked peers."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    ca = by_kind.get(("Deployment", "ca"))
    config = effective_config(repo, "ca", docs)
    if ca is None or ca["spec"].get("replicas", 1) <= 1:
        return
    pod = ca["spec"]["template"]
    found = mounted_file(pod, pod["spec"]["containers"][0], config["stateDir"].rstrip("/") + "/revocations.pb")
    claim = found and by_kind.get(("PersistentVolumeClaim", (found[0].get("persistentVolumeClaim") or {})
                                   .get("claimName")))
    if not claim or "ReadWriteMany" not in claim["spec"].get("accessModes", []):
        problems.append("%s: Deployment/ca runs %d replicas whose stateDir %s is not one ReadWriteMany claim they "
                        "share (%s): each would keep its own revocations" % (
                            where, ca["spec"]["replicas"], config["stateDir"], found and found[0]))


def mebibytes(size):
    """A JVM size (128m, 1g, 65536k) or a Kubernetes quantity (256Mi, 1Gi) in MiB."""
    m = re.fullmatch(r"(\d+)([kKmMgG]i?)?", str(size))
    unit = (m.group(2) or "").lower().rstrip("i")
    return int(m.group(1)) * {"k": 1 / 1024, "m": 1, "g": 1024}.get(unit, 1 / (1024 * 1024))


# what a JVM holds beyond the limits its flags set: the CDS archive, libjvm's text, thread stacks, malloc arenas
JVM_RUNTIME_MIB = 96


def image_jvm_flags(repo):
    """The JVM flags every service image starts with (jib's jvmFlags in the parent pom.xml): command-line flags,
    which win over JAVA_TOOL_OPTIONS' (the JVM reads that variable first)."""
    pom = open(repo + "/pom.xml").read()
    return " ".join(re.findall(r"<jvmFlag>([^<]+)</jvmFlag>", pom))


def check_jvm_fits_its_limit(repo, where, docs, problems):
    """A container of a JVM has a memory limit above everything its flags let it hold (heap, direct buffers,
    metaspace, code cache, plus the runtime's own): below that, the kernel's OOM killer ends it mid-write before the
    JVM's own limits (and -XX:+ExitOnOutOfMemoryError) act, and for ztunnel that is the node's traffic. The flags
    are the image's command line over the container's JAVA_TOOL_OPTIONS; without -Xmx the heap is MaxRAMPercentage
    (25 unset) of the limit, and direct memory, unset, is as large as the heap."""
    image = image_jvm_flags(repo)
    for d in docs:
        if d.get("kind") not in ("Deployment", "DaemonSet", "StatefulSet") or d["metadata"]["name"] not in COMPONENTS:
            continue
        for c in d["spec"]["template"]["spec"].get("containers", []):
            limit = ((c.get("resources") or {}).get("limits") or {}).get("memory")
            opts = next((e.get("value", "") for e in c.get("env", []) if e.get("name") == "JAVA_TOOL_OPTIONS"), "")
            if limit is None:
                problems.append("%s: %s/%s container %s has no memory limit its JVM's flags can be checked against"
                                % (where, d["kind"], d["metadata"]["name"], c["name"]))
                continue
            flags = dict(re.findall(r"-XX:(\w+)=(\w+)", opts))
            flags.update(re.findall(r"-XX:(\w+)=(\w+)", image))
            heap = re.findall(r"-Xmx(\w+)", opts + " " + image)
            heap = mebibytes(heap[-1]) if heap else mebibytes(limit) * int(flags.get("MaxRAMPercentage", "25")) / 100
            direct = mebibytes(flags.get("MaxDirectMemorySize", "%dm" % heap))
            meta = mebibytes(flags.get("MaxMetaspaceSize", "256m"))
            code = mebibytes(flags.get("ReservedCodeCacheSize", "240m"))
            need = heap + direct + meta + code + JVM_RUNTIME_MIB
            if mebibytes(limit) < need:
                problems.append("%s: %s/%s container %s has a memory limit of %s below what its JVM may hold: heap %d"
                                " + direct %d + metaspace %d + code cache %d + ~%d MiB of runtime = %d MiB" % (
                                    where, d["kind"], d["metadata"]["name"], c["name"], limit, heap, direct, meta,
                                    code, JVM_RUNTIME_MIB, need))


def check_api_token_only_where_used(repo, where, docs, problems):
    """A pod gets its ServiceAccount's API token (Kubernetes mounts it unless automountServiceAccountToken: false)
    only when its component calls the Kubernetes API with it, which is when its configuration's kubernetes.enabled
    is on (KubernetesConnection: in cluster, the pod's own token). Anywhere else the token is a credential a
    compromised pod hands out for nothing; the projected istio-token volumes (audience istio-ca) are not it."""
    for d in docs:
        if d.get("kind") not in WORKLOAD_KINDS or d["metadata"]["name"] not in COMPONENTS:
            continue
        name = d["metadata"]["name"]
        config = effective_config(repo, name, docs)
        uses_api = bool((config.get("kubernetes") or {}).get("enabled"))
        mounted = d["spec"]["template"]["spec"].get("automountServiceAccountToken", True)
        if mounted and not uses_api:
            problems.append("%s: %s/%s mounts its ServiceAccount's API token, which it never uses (no "
                            "kubernetes.enabled): set automountServiceAccountToken: false" % (where, d["kind"], name))
        elif uses_api and not mounted:
            problems.append("%s: %s/%s calls the Kubernetes API with its pod's token (kubernetes.enabled), which "
                            "automountServiceAccountToken: false keeps out of the pod" % (where, d["kind"], name))


def check_replicas_spread(where, docs, problems):
    """A control-plane Deployment of several replicas asks the scheduler to spread them over nodes and zones (a
    topologySpreadConstraint over exactly its pods per topology key): otherwise nothing keeps every replica off one
    node, whose loss takes the whole control plane, PodDisruptionBudget or not. ScheduleAnyway, as is usual for
    control planes (istiod's chart takes the same from its values): a cluster of one zone, or fewer nodes than
    replicas, still runs them all."""
    for d in docs:
        if d.get("kind") != "Deployment" or d["spec"].get("replicas", 1) <= 1:
            continue
        pod = d["spec"]["template"]
        labels = pod["metadata"]["labels"]
        keys = {c.get("topologyKey") for c in pod["spec"].get("topologySpreadConstraints") or []
                if (c.get("labelSelector") or {}).get("matchLabels") == d["spec"]["selector"]["matchLabels"]
                and all(labels.get(k) == v for k, v in c["labelSelector"]["matchLabels"].items())}
        missing = sorted({"kubernetes.io/hostname", "topology.kubernetes.io/zone"} - keys)
        if missing:
            problems.append("%s: Deployment/%s runs %d replicas with no topologySpreadConstraints over its pods by %s"
                            " (every replica may land on one node)" % (where, d["metadata"]["name"],
                                                                      d["spec"]["replicas"], missing))


def check_telemetry_instance_named(repo, where, docs, problems):
    """telemetry exports its OTLP metrics under a service.instance.id derived from its pod's name
    (otlp.serviceInstanceId, from the downward API): without it each process picks a random one, and every restart
    leaves a new set of series behind in the metrics backend."""
    by_kind = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    workload = by_kind.get(("Deployment", "telemetry"))
    if workload is None:
        return
    var = env_name("otlp.serviceInstanceId")
    if "otlp.serviceInstanceId" not in keys_of(effective_config(repo, "telemetry", docs)):
        problems.append("%s: telemetry-defaults.yaml has no otlp.serviceInstanceId" % where)
    env = {e["name"]: e for e in workload["spec"]["template"]["spec"]["containers"][0].get("env", [])}
    field = ((env.get(var) or {}).get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath")
    if field != "metadata.name":
        problems.append("%s: Deployment/telemetry does not pass its pod's name in %s (otlp.serviceInstanceId): %s"
                        % (where, var, env.get(var)))


def main(argv):
    repo, specs = argv[1], argv[2:]
    problems = []
    for s in specs:
        check(repo, s, problems)
    for p in problems:
        print("chart: " + p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
