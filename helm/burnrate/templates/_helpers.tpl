{{/* Chart name, or nameOverride. */}}
{{- define "burnrate.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Prefix of every resource name: fullnameOverride, or the release name
with the chart name unless the release name already contains it. */}}
{{- define "burnrate.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the chart's own pods. */}}
{{- define "burnrate.selectorLabels" -}}
app.kubernetes.io/name: {{ include "burnrate.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every resource. */}}
{{- define "burnrate.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "burnrate.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* "true" when burnrate runs as a native sidecar: an init container with
restartPolicy Always, which Kubernetes starts before the app containers and
stops after them. Kubernetes enables it by default from 1.29. */}}
{{- define "burnrate.nativeSidecar" -}}
{{- $version := default .Capabilities.KubeVersion.Version .Values.kubeVersion -}}
{{- if semverCompare ">=1.29-0" $version -}}true{{- end -}}
{{- end -}}

{{/* "true" when an exporter keeps its queue on disk in the PersistentVolumeClaim
queueVolume.existingClaim. burnrate locks the queue directory, so only one
pod at a time can use the claim. */}}
{{- define "burnrate.diskQueueOnClaim" -}}
{{- if and .Values.queueVolume.enabled .Values.queueVolume.existingClaim -}}
{{- range .Values.config.exporters -}}
{{- if eq (default "memory" (default dict .sending_queue).storage) "disk" -}}true{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Address of the OTLP receivers. */}}
{{- define "burnrate.otlpHost" -}}
{{- if eq .Values.mode "sidecar" -}}{{ .Values.sidecar.otlpHost }}{{- else -}}{{ .Values.standalone.host }}{{- end -}}
{{- end -}}

{{/* Address of /metrics and the health endpoints. */}}
{{- define "burnrate.metricsHost" -}}
{{- if eq .Values.mode "sidecar" -}}{{ .Values.sidecar.metricsHost }}{{- else -}}{{ .Values.standalone.host }}{{- end -}}
{{- end -}}

{{/* Format host and port as an endpoint, with brackets around an IPv6 host. */}}
{{- define "burnrate.endpoint" -}}
{{- $host := index . 0 -}}
{{- if contains ":" $host -}}[{{ $host }}]:{{ index . 1 }}{{- else -}}{{ $host }}:{{ index . 1 }}{{- end -}}
{{- end -}}

{{/* burnrate's configuration file: `config` from the values, with the
listeners, rule files and price files that the chart owns. */}}
{{- define "burnrate.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $otlpHost := include "burnrate.otlpHost" . -}}
{{- $metricsHost := include "burnrate.metricsHost" . -}}
{{- $receivers := deepCopy (default dict $config.receivers) -}}
{{- $otlp := default dict $receivers.otlp -}}
{{- $grpc := merge (dict "endpoint" (include "burnrate.endpoint" (list $otlpHost .Values.ports.otlpGrpc))) (default dict $otlp.grpc) -}}
{{- $http := merge (dict "endpoint" (include "burnrate.endpoint" (list $otlpHost .Values.ports.otlpHttp))) (default dict $otlp.http) -}}
{{- $_ := set $config "receivers" (dict "otlp" (dict "grpc" $grpc "http" $http)) -}}
{{- $metrics := deepCopy (default dict $config.metrics) -}}
{{- $_ := set $metrics "prometheus" (dict "endpoint" (include "burnrate.endpoint" (list $metricsHost .Values.ports.metrics))) -}}
{{- $_ := set $config "metrics" $metrics -}}
{{- $_ := set $config "admin" (dict "endpoint" (include "burnrate.endpoint" (list $metricsHost .Values.ports.admin))) -}}
{{- if .Values.rules -}}
{{- $alerts := default dict $config.alerts -}}
{{- $_ := set $alerts "rule_files" (list "rules/*.yaml") -}}
{{- $_ := set $config "alerts" $alerts -}}
{{- end -}}
{{- if .Values.priceFiles -}}
{{- $pricing := default dict $config.pricing -}}
{{- $files := list -}}
{{- range $name, $_ := .Values.priceFiles -}}
{{- $files = append $files (printf "prices/%s.yaml" $name) -}}
{{- end -}}
{{- $_ := set $pricing "files" $files -}}
{{- $_ := set $config "pricing" $pricing -}}
{{- end -}}
{{- range $key, $value := $config -}}
{{- if kindIs "map" $value -}}
{{- if not $value -}}
{{- $_ := unset $config $key -}}
{{- end -}}
{{- end -}}
{{- end -}}
# burnrate configuration rendered by the burnrate Helm chart from its values.
# docs/configuration.md describes every key.
{{ toYaml $config }}
{{- end -}}

{{/* The data of the ConfigMap: the config, the rule files and the price
files. The volume in "burnrate.sidecar.volumes" maps the keys to paths. */}}
{{- define "burnrate.configData" -}}
config.yaml: |
{{- include "burnrate.config" . | nindent 2 }}
{{- range $name, $content := .Values.rules }}
rules-{{ $name }}.yaml: |
{{- toYaml $content | nindent 2 }}
{{- end }}
{{- range $name, $content := .Values.priceFiles }}
prices-{{ $name }}.yaml: |
{{- toYaml $content | nindent 2 }}
{{- end }}
{{- end -}}

{{/* Environment variables of the burnrate container. */}}
{{- define "burnrate.containerEnv" -}}
{{- range .Values.secretEnv }}
- name: {{ .name }}
  valueFrom:
    secretKeyRef:
      name: {{ .secretName }}
      key: {{ .key }}
{{- end }}
{{- range .Values.env }}
- name: {{ .name }}
  value: {{ .value | quote }}
{{- end }}
{{- end -}}

{{/* An HTTP probe on the admin port. Takes (list root path). */}}
{{- define "burnrate.probe" -}}
{{- $root := index . 0 -}}
httpGet:
  path: {{ index . 1 }}
  port: admin
periodSeconds: {{ $root.Values.probes.periodSeconds }}
timeoutSeconds: {{ $root.Values.probes.timeoutSeconds }}
failureThreshold: {{ $root.Values.probes.failureThreshold }}
{{- end -}}

{{/* The burnrate container, as one item of a container list. Takes
(dict "root" $ "name" NAME "native" BOOL): a native sidecar gets
restartPolicy Always and a startup probe, which makes Kubernetes wait for
burnrate's readiness before it starts the app containers. */}}
{{- define "burnrate.container" -}}
{{- $root := .root -}}
{{- $values := $root.Values -}}
- name: {{ .name }}
  image: "{{ $values.image.repository }}:{{ default $root.Chart.AppVersion $values.image.tag }}"
  imagePullPolicy: {{ $values.image.pullPolicy }}
  {{- if .native }}
  restartPolicy: Always
  {{- end }}
  args: [run, --config, /etc/burnrate/config.yaml]
  # Relative price file paths in the config are relative to this folder.
  workingDir: /etc/burnrate
  ports:
    {{- if eq $values.mode "standalone" }}
    - name: otlp-grpc
      containerPort: {{ $values.ports.otlpGrpc }}
      protocol: TCP
    - name: otlp-http
      containerPort: {{ $values.ports.otlpHttp }}
      protocol: TCP
    {{- end }}
    - name: metrics
      containerPort: {{ $values.ports.metrics }}
      protocol: TCP
    - name: admin
      containerPort: {{ $values.ports.admin }}
      protocol: TCP
  {{- with include "burnrate.containerEnv" $root | trim }}
  env:
    {{- . | nindent 4 }}
  {{- end }}
  {{- if $values.probes.enabled }}
  {{- if .native }}
  startupProbe:
    httpGet:
      path: /readyz
      port: admin
    periodSeconds: 1
    failureThreshold: 30
  {{- end }}
  livenessProbe:
    {{- include "burnrate.probe" (list $root "/healthz") | nindent 4 }}
  readinessProbe:
    {{- include "burnrate.probe" (list $root "/readyz") | nindent 4 }}
  {{- end }}
  {{- with $values.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    runAsNonRoot: true
    runAsUser: {{ $values.securityContext.runAsUser }}
    runAsGroup: {{ $values.securityContext.runAsGroup }}
    readOnlyRootFilesystem: true
    allowPrivilegeEscalation: false
    capabilities:
      drop: [ALL]
    seccompProfile:
      type: RuntimeDefault
  volumeMounts:
    - name: burnrate-config
      mountPath: /etc/burnrate
      readOnly: true
    {{- if $values.queueVolume.enabled }}
    - name: burnrate-queue
      mountPath: {{ $values.queueVolume.mountPath }}
    {{- end }}
{{- end -}}

{{/* Init containers of a pod with the burnrate sidecar: burnrate as a
native sidecar on Kubernetes >= 1.29, otherwise nothing. Use it in your pod
spec as shown in templates/example-workload.yaml. */}}
{{- define "burnrate.sidecar.initContainers" -}}
{{- if include "burnrate.nativeSidecar" . -}}
{{- include "burnrate.container" (dict "root" . "name" .Values.sidecar.containerName "native" true) -}}
{{- end -}}
{{- end -}}

{{/* Containers to add beside the app: burnrate as a plain container on
Kubernetes < 1.29, otherwise nothing. A plain container gets SIGTERM at the
same time as the app, so the app's last export can reach a burnrate that
has stopped accepting data (docs/kubernetes.md). */}}
{{- define "burnrate.sidecar.containers" -}}
{{- if not (include "burnrate.nativeSidecar" .) -}}
{{- include "burnrate.container" (dict "root" . "name" .Values.sidecar.containerName "native" false) -}}
{{- end -}}
{{- end -}}

{{/* Volumes of a pod that runs burnrate: the ConfigMap, with its keys
mapped to config.yaml, rules/NAME.yaml and prices/NAME.yaml, and the disk
queue volume when enabled. */}}
{{- define "burnrate.sidecar.volumes" -}}
- name: burnrate-config
  configMap:
    name: {{ include "burnrate.fullname" . }}
    items:
      - key: config.yaml
        path: config.yaml
      {{- range $name, $_ := .Values.rules }}
      - key: rules-{{ $name }}.yaml
        path: rules/{{ $name }}.yaml
      {{- end }}
      {{- range $name, $_ := .Values.priceFiles }}
      - key: prices-{{ $name }}.yaml
        path: prices/{{ $name }}.yaml
      {{- end }}
{{- if .Values.queueVolume.enabled }}
- name: burnrate-queue
  {{- if .Values.queueVolume.existingClaim }}
  persistentVolumeClaim:
    claimName: {{ .Values.queueVolume.existingClaim }}
  {{- else }}
  emptyDir:
    sizeLimit: {{ .Values.queueVolume.sizeLimit }}
  {{- end }}
{{- end }}
{{- end -}}

{{/* Pod annotations that restart the pods when the rendered configuration,
rule files or price files change. */}}
{{- define "burnrate.sidecar.annotations" -}}
checksum/burnrate-config: {{ include "burnrate.configData" . | sha256sum }}
{{- end -}}

{{/* Pod label that the PodMonitor selects. */}}
{{- define "burnrate.sidecar.labels" -}}
burnrate/sidecar: {{ include "burnrate.fullname" . }}
{{- end -}}

{{/* Environment variables that point the app's OpenTelemetry SDK at the
sidecar over OTLP/gRPC and capture the rate-limit response headers. */}}
{{- define "burnrate.sidecar.appEnv" -}}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: "http://127.0.0.1:{{ .Values.ports.otlpGrpc }}"
- name: OTEL_EXPORTER_OTLP_PROTOCOL
  value: grpc
- name: OTEL_INSTRUMENTATION_HTTP_CAPTURE_HEADERS_CLIENT_RESPONSE
  value: "anthropic-ratelimit-.*,x-ratelimit-.*,retry-after,retry-after-ms"
{{- end -}}

{{/* Pod spec settings of the chart's own pods. */}}
{{- define "burnrate.podSettings" -}}
terminationGracePeriodSeconds: {{ .Values.pod.terminationGracePeriodSeconds }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.pod.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}
