{{/*
Named templates shared by the umbrella chart and its subcharts (Helm loads every chart's named
templates into one namespace, so subcharts call these with their own context).
*/}}

{{- define "jmesh.labels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/part-of: jmesh
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/*
The mesh's own pods stay out of it whatever their namespace's labels, as Istio's ztunnel: never captured (policy and
istio-cni read the pod's dataplane-mode before the namespace's; istio-cni also the redirection annotation), never
given a sidecar by an Istio injector. An in-pod ztunnel enrolled by istio-cni would have its own traffic sent to itself.
*/}}
{{- define "jmesh.outsideMeshLabels" -}}
istio.io/dataplane-mode: none
sidecar.istio.io/inject: "false"
{{- end -}}

{{- define "jmesh.outsideMeshAnnotations" -}}
ambient.istio.io/redirection: disabled
sidecar.istio.io/inject: "false"
{{- end -}}

{{- define "jmesh.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* jmesh/<component>:<tag>, optionally prefixed by global.imageRegistry */}}
{{- define "jmesh.image" -}}
{{- $tag := default .Chart.AppVersion .Values.global.imageTag -}}
{{- $repo := printf "jmesh/%s" .Chart.Name -}}
{{- if .Values.global.imageRegistry -}}
{{- printf "%s/%s:%s" (trimSuffix "/" .Values.global.imageRegistry) $repo $tag -}}
{{- else -}}
{{- printf "%s:%s" $repo $tag -}}
{{- end -}}
{{- end -}}

{{/*
The component's configuration file: chart-computed keys, then the user's `config` values on top.
Unknown keys are refused by the service at start, naming the key.
*/}}
{{- define "jmesh.configMap" -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: {{ .Chart.Name }}
  labels:
    {{- include "jmesh.labels" . | nindent 4 }}
data:
  {{ .Chart.Name }}.yaml: |
    {{- mergeOverwrite (include "jmesh.chartConfig" . | fromYaml) (deepCopy (default dict .Values.config)) | toYaml | nindent 4 }}
{{- end -}}

{{/* What the chart itself sets in each component's configuration, from .Values.global. */}}
{{- define "jmesh.chartConfig" -}}
logLevel: {{ .Values.global.logLevel }}
# what the pod's grace period leaves after the JVM's own shutdown, as Istio's ztunnel derives it (grace - 5 s, or
# grace - 1 s when the grace is 10 s or less; at least 1 s)
{{- $grace := int .Values.terminationGracePeriodSeconds }}
drainDeadline: {{ printf "%ds" (max 1 (ternary (sub $grace 1) (sub $grace 5) (le $grace 10))) }}
{{- if ne .Chart.Name "ztunnel" }}
# kubelet probes and Prometheus reach the pod IP; only read-only endpoints live here
admin:
  host: 0.0.0.0
{{- end }}
{{- if has .Chart.Name (list "ca" "policy" "telemetry" "ztunnel") }}
kafka:
  bootstrapServers: {{ .Values.global.kafka.bootstrapServers | quote }}
  {{- if has .Chart.Name (list "policy" "telemetry") }}
  # copies of the topics it creates (policy: the config log; telemetry: events, dead letters, checkpoints, traces)
  replicationFactor: {{ int .Values.global.kafka.replicationFactor }}
  {{- end }}
{{- end }}
{{- if eq .Chart.Name "ca" }}
trustDomain: {{ .Values.global.trustDomain }}
stateDir: /var/lib/jmesh/ca
placement:
  source: config-log
tls:
  dnsSans: [ca.{{ .Release.Namespace }}.svc, ca.{{ .Release.Namespace }}.svc.cluster.local]
  ipSans: []
# ztunnels authenticate with projected ServiceAccount tokens (TokenReview); the root lives in istio-ca-secret.
# ca also keeps policy's serving certificate, under the mesh root, in the Secret policy-tls (so whoever trusts
# istio-ca-root-cert, an Istio ztunnel included, can verify policy)
kubernetes:
  enabled: true
  servingSecrets:
    - secret: policy-tls
      service: policy
      dnsSans: [policy.{{ .Release.Namespace }}.svc, policy.{{ .Release.Namespace }}.svc.cluster.local]
{{- else if eq .Chart.Name "policy" }}
mesh:
  trustDomain: {{ .Values.global.trustDomain }}
  # the control plane's own namespace unless set, as istiod's meshConfig.rootNamespace (its istioNamespace)
  rootNamespace: {{ .Values.global.rootNamespace | default .Release.Namespace }}
# the serving certificate ca issues under the mesh root into the Secret policy-tls, mounted by the Deployment
xds:
  certFile: /var/run/secrets/jmesh/tls/tls.crt
  keyFile: /var/run/secrets/jmesh/tls/tls.key
# ztunnels' tokens are reviewed by ca, which policy verifies with the roots ca publishes; policy presents its own
# projected token (audience istio-ca), re-read at each review
tokenReview:
  host: ca.{{ .Release.Namespace }}.svc
  port: 15012
  caFile: /var/run/secrets/istio/root-cert.pem
  tokenFile: /var/run/secrets/tokens/istio-token
# the cluster's namespaces, pods, services and Istio / Gateway API resources, listed and watched (in-cluster
# credentials: the pod's ServiceAccount token, read-only ClusterRole in rbac.yaml); with several replicas the
# holder of the Lease jmesh-policy-kubernetes writes them (Role in rbac.yaml), the others serve
kubernetes:
  enabled: true
  leaderElection:
    namespace: {{ .Release.Namespace }}
{{- else if eq .Chart.Name "ztunnel" }}
# /metrics (15020) on every address of the node, as Istio's: Prometheus scrapes the pod's (host) IP. ztunnel's
# admin (15000: /config_dump, /logging, /quitquitquit) stays on 127.0.0.1 whatever this says
admin:
  host: 0.0.0.0
# SOCKS5 (15080) off, as Istio's (UNSTABLE_ENABLE_SOCKS5): on the node address every pod of the node could use it.
# Local mode and the benchmarks use it
listeners:
  socks5: -1
  {{- if .Values.inpod.enabled }}
# Istio's in-pod mode: listeners inside each pod, whose traffic the node agent redirects there (so no node-level
# rules), the agent's socket in inpod.socketDir
inpod:
  enabled: true
  socket: {{ printf "%s/ztunnel.sock" .Values.inpod.socketDir }}
capture:
  enabled: false
  {{- else }}
  # node-level capture: TPROXY rules in the node's namespace (capture.*, on by default) send the node's ambient pods'
  # traffic to 15001/15008/15006, bound once on the node address (IP_TRANSPARENT keeps the pod as local address).
  # In-pod mode derives each pod's listeners itself
  transparent: true
  inboundPerWorkload: false
  {{- end }}
node:
  trustDomain: {{ .Values.global.trustDomain }}
  network: {{ .Values.global.network | default "" | quote }}
identity:
  caAddress: ca.{{ .Release.Namespace }}.svc:15012
  # the projected token (audience istio-ca) and the roots ca publishes, mounted by the DaemonSet
  tokenFile: /var/run/secrets/tokens/istio-token
  rootCertFile: /var/run/secrets/istio/root-cert.pem
# policy's delta ADS: its certificate comes from ca too, so the same roots and token
discovery:
  address: policy.{{ .Release.Namespace }}.svc:15010
  tokenFile: /var/run/secrets/tokens/istio-token
  rootCertFile: /var/run/secrets/istio/root-cert.pem
{{- end }}
{{- end -}}

{{/*
"true" when the component calls the Kubernetes API with its pod's ServiceAccount token: its configuration (the
chart's, the user's `config` over it) turns kubernetes.enabled on (ca: TokenReview, Secrets; policy: the cluster's
resources, its Lease), else "false".
*/}}
{{- define "jmesh.usesKubernetesApi" -}}
{{- $config := mergeOverwrite (include "jmesh.chartConfig" . | fromYaml) (deepCopy (default dict .Values.config)) -}}
{{- ternary "true" "false" (dig "kubernetes" "enabled" false $config | toString | eq "true") -}}
{{- end -}}

{{/* Pod security shared by the control-plane components: non-root, read-only root, no privileges. */}}
{{- define "jmesh.restrictedContainer" -}}
securityContext:
  runAsNonRoot: true
  runAsUser: 65532
  runAsGroup: 65532
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  capabilities:
    drop: [ALL]
  seccompProfile:
    type: RuntimeDefault
{{- end -}}

{{/* The admin port probes every service answers: /healthz/ready (503 until started). */}}
{{- define "jmesh.probes" -}}
readinessProbe:
  httpGet:
    path: /healthz/ready
    port: {{ .port }}
  periodSeconds: 2
  failureThreshold: 3
livenessProbe:
  tcpSocket:
    port: {{ .port }}
  initialDelaySeconds: 30
  periodSeconds: 10
{{- end -}}

{{/*
A control-plane Deployment. Call with (dict "ctx" . "ports" (list (dict "name" "grpc" "port" 15012) ...)
"adminPort" 15014 "stateVolume" true|false), optionally "recreate" true (a volume one node mounts at a time), and
optionally "mounts" (list (dict "name" "tls" "path" "/var/run/x" "volume" (dict "secret" (dict "secretName" "x")))):
read-only volumes, e.g. credentials, and optionally "env": the container's own variables (per-pod values from the
downward API; settings go in the configuration file).
*/}}
{{- define "jmesh.deployment" -}}
{{- $ctx := .ctx -}}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ $ctx.Chart.Name }}
  labels:
    {{- include "jmesh.labels" $ctx | nindent 4 }}
spec:
  replicas: {{ $ctx.Values.replicas }}
  {{- if .recreate }}
  # the state volume mounts on one node at a time: the old pod goes first, or the new one could never attach it
  strategy:
    type: Recreate
  {{- end }}
  selector:
    matchLabels:
      {{- include "jmesh.selectorLabels" $ctx | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "jmesh.labels" $ctx | nindent 8 }}
        {{- include "jmesh.outsideMeshLabels" $ctx | nindent 8 }}
      annotations:
        {{- include "jmesh.outsideMeshAnnotations" $ctx | nindent 8 }}
        prometheus.io/scrape: "true"
        prometheus.io/port: {{ .adminPort | quote }}
        prometheus.io/path: /metrics
        # a new configuration rolls the pods
        checksum/config: {{ include "jmesh.configMap" $ctx | sha256sum }}
    spec:
      serviceAccountName: {{ $ctx.Chart.Name }}
      # the API token only where the component calls the API with it (its kubernetes.enabled): anywhere else it
      # is a credential a compromised pod would hand out for nothing
      automountServiceAccountToken: {{ include "jmesh.usesKubernetesApi" $ctx }}
      terminationGracePeriodSeconds: {{ $ctx.Values.terminationGracePeriodSeconds }}
      {{- include "jmesh.topologySpread" $ctx | nindent 6 }}
      securityContext:
        fsGroup: 65532
      containers:
        - name: {{ $ctx.Chart.Name }}
          image: {{ include "jmesh.image" $ctx }}
          imagePullPolicy: {{ $ctx.Values.global.imagePullPolicy }}
          args: ["--config", "/etc/jmesh/{{ $ctx.Chart.Name }}.yaml"]
          env:
            # read before the image's own flags: its -XX:MaxRAMPercentage=75 yields to this -Xmx
            - name: JAVA_TOOL_OPTIONS
              value: {{ $ctx.Values.javaOptions | quote }}
            {{- with .env }}
            {{- toYaml . | nindent 12 }}
            {{- end }}
          ports:
            {{- range .ports }}
            - name: {{ .name }}
              containerPort: {{ .port }}
            {{- end }}
            - name: http-monitoring
              containerPort: {{ .adminPort }}
          {{- include "jmesh.probes" (dict "port" .adminPort) | nindent 10 }}
          {{- include "jmesh.restrictedContainer" $ctx | nindent 10 }}
          resources:
            {{- toYaml $ctx.Values.resources | nindent 12 }}
          volumeMounts:
            - name: config
              mountPath: /etc/jmesh
              readOnly: true
            - name: tmp
              mountPath: /tmp
            {{- if .stateVolume }}
            - name: state
              mountPath: /var/lib/jmesh
            {{- end }}
            {{- range .mounts }}
            - name: {{ .name }}
              mountPath: {{ .path }}
              readOnly: true
            {{- end }}
      volumes:
        - name: config
          configMap:
            name: {{ $ctx.Chart.Name }}
        - name: tmp
          emptyDir: {}
        {{- if .stateVolume }}
        - name: state
          {{- if $ctx.Values.persistence.enabled }}
          persistentVolumeClaim:
            claimName: {{ $ctx.Chart.Name }}-state
          {{- else }}
          emptyDir: {}
          {{- end }}
        {{- end }}
        {{- range .mounts }}
        - name: {{ .name }}
          {{- toYaml .volume | nindent 10 }}
        {{- end }}
{{- end -}}

{{/*
Several replicas are spread over zones and nodes (global.topologySpread, one soft constraint per key over the
component's own pods), or as the component's topologySpreadConstraints say when set: otherwise nothing keeps them
all off one node. One replica has nothing to spread.
*/}}
{{- define "jmesh.topologySpread" -}}
{{- $spread := .Values.global.topologySpread -}}
{{- if and (gt (int .Values.replicas) 1) (or .Values.topologySpreadConstraints $spread.topologyKeys) }}
topologySpreadConstraints:
  {{- if .Values.topologySpreadConstraints }}
  {{- toYaml .Values.topologySpreadConstraints | nindent 2 }}
  {{- else }}
  {{- range $spread.topologyKeys }}
  - topologyKey: {{ . }}
    maxSkew: {{ int $spread.maxSkew }}
    whenUnsatisfiable: {{ $spread.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "jmesh.selectorLabels" $ | nindent 8 }}
  {{- end }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* A ClusterIP Service for the ports of a control-plane component plus its admin port. */}}
{{- define "jmesh.service" -}}
{{- $ctx := .ctx -}}
apiVersion: v1
kind: Service
metadata:
  name: {{ $ctx.Chart.Name }}
  labels:
    {{- include "jmesh.labels" $ctx | nindent 4 }}
spec:
  selector:
    {{- include "jmesh.selectorLabels" $ctx | nindent 4 }}
  ports:
    {{- range .ports }}
    - name: {{ .name }}
      port: {{ .port }}
      targetPort: {{ .name }}
      {{- if hasPrefix "grpc" .name }}
      appProtocol: grpc
      {{- end }}
    {{- end }}
    - name: http-monitoring
      port: {{ .adminPort }}
      targetPort: http-monitoring
{{- end -}}

{{- define "jmesh.serviceAccount" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .Chart.Name }}
  labels:
    {{- include "jmesh.labels" . | nindent 4 }}
{{- end -}}

{{/*
With several replicas, a PodDisruptionBudget keeping one up (as istiod's): a node drain evicts them one at a time.
None for a single replica: keeping it up would block every drain of its node.
*/}}
{{- define "jmesh.podDisruptionBudget" -}}
{{- if gt (int .Values.replicas) 1 }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ .Chart.Name }}
  labels:
    {{- include "jmesh.labels" . | nindent 4 }}
spec:
  maxUnavailable: 1
  selector:
    matchLabels:
      {{- include "jmesh.selectorLabels" . | nindent 6 }}
{{- end }}
{{- end -}}
