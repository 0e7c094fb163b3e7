{{/* Fail on combinations of values that would render a broken release.
NOTES.txt and the ConfigMap include it, so both `helm install` and
`helm template` stop with the message. */}}
{{- define "burnrate.validate" -}}
{{- $values := .Values -}}
{{- if and (eq $values.mode "sidecar") $values.service.enabled -}}
{{- fail "service.enabled=true needs mode=standalone: in sidecar mode the app sends to burnrate on 127.0.0.1 in its own pod; set service.enabled=false or mode=standalone" -}}
{{- end -}}
{{- if and $values.serviceMonitor.enabled (not (and (eq $values.mode "standalone") $values.service.enabled)) -}}
{{- fail "serviceMonitor.enabled=true needs mode=standalone and service.enabled=true; in sidecar mode use podMonitor.enabled=true" -}}
{{- end -}}
{{- if and $values.exampleWorkload.enabled (ne $values.mode "sidecar") -}}
{{- fail "exampleWorkload.enabled=true needs mode=sidecar, because the example shows burnrate as a sidecar" -}}
{{- end -}}
{{- if and (eq $values.mode "sidecar") (hasPrefix "127." $values.sidecar.metricsHost) -}}
{{- if or $values.probes.enabled $values.podMonitor.enabled -}}
{{- fail (printf "sidecar.metricsHost=%s is reachable only inside the pod, but the kubelet's probes and Prometheus connect to the pod IP; set sidecar.metricsHost=0.0.0.0, or probes.enabled=false and podMonitor.enabled=false" $values.sidecar.metricsHost) -}}
{{- end -}}
{{- end -}}
{{- if and (eq $values.mode "standalone") (gt (int $values.standalone.replicas) 1) (include "burnrate.diskQueueOnClaim" .) -}}
{{- fail (printf "standalone.replicas=%d with a disk queue on queueVolume.existingClaim=%s: burnrate locks the queue directory, so only one pod can use the claim; set standalone.replicas=1, or queueVolume.existingClaim=\"\" for an emptyDir per pod" (int $values.standalone.replicas) $values.queueVolume.existingClaim) -}}
{{- end -}}
{{- range $index, $exporter := $values.config.exporters -}}
{{- $queue := default dict $exporter.sending_queue -}}
{{- if eq (default "memory" $queue.storage) "disk" -}}
{{- if not $values.queueVolume.enabled -}}
{{- fail (printf "config.exporters[%d].sending_queue.storage=disk needs a volume, because the root filesystem is read-only; set queueVolume.enabled=true" $index) -}}
{{- end -}}
{{- $mount := trimSuffix "/" $values.queueVolume.mountPath -}}
{{- $directory := trimSuffix "/" (default "" $queue.directory) -}}
{{- if not (or (eq $directory $mount) (hasPrefix (printf "%s/" $mount) $directory)) -}}
{{- fail (printf "config.exporters[%d].sending_queue.directory=%q is not on the queue volume; set it to queueVolume.mountPath (%s) or a folder under it" $index $directory $mount) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}
