{{/*
Paths shared by the image (Dockerfile) and the pod: the config file the image's
CMD names, and where the Kafka TLS Secret is mounted.
*/}}
{{- define "mrtfeed.configFile" -}}/etc/mrtfeed/config.yaml{{- end -}}
{{- define "mrtfeed.tlsDir" -}}/etc/mrtfeed/tls{{- end -}}

{{- define "mrtfeed.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Release-qualified name, cut to 55 characters so suffixed names ("-metrics",
"-dashboard") still fit the 63-character limit of labels and DNS names.
*/}}
{{- define "mrtfeed.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 55 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 55 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "mrtfeed.metricsServiceName" -}}
{{- printf "%s-metrics" (include "mrtfeed.fullname" .) }}
{{- end }}

{{- define "mrtfeed.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "mrtfeed.labels" -}}
helm.sh/chart: {{ include "mrtfeed.chart" . }}
{{ include "mrtfeed.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "mrtfeed.selectorLabels" -}}
app.kubernetes.io/name: {{ include "mrtfeed.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "mrtfeed.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "mrtfeed.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "mrtfeed.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
An HTTP probe on the container's "http" port from a probe value block.
*/}}
{{- define "mrtfeed.probe" -}}
httpGet:
  path: {{ .path }}
  port: http
{{- if hasKey . "initialDelaySeconds" }}
initialDelaySeconds: {{ .initialDelaySeconds }}
{{- end }}
periodSeconds: {{ .periodSeconds }}
timeoutSeconds: {{ .timeoutSeconds }}
failureThreshold: {{ .failureThreshold }}
{{- end }}

{{/*
Deployment strategy: Recreate unless asked otherwise for one replica, since
the SQLite state on a ReadWriteOnce volume must be closed by the old pod before
the new one opens it.
*/}}
{{- define "mrtfeed.updateStrategy" -}}
{{- if .Values.updateStrategy }}
{{- .Values.updateStrategy }}
{{- else if gt (int .Values.replicaCount) 1 }}
{{- "RollingUpdate" }}
{{- else }}
{{- "Recreate" }}
{{- end }}
{{- end }}

{{/*
The mrtfeed config as rendered into the ConfigMap: .Values.config with the
Kafka TLS file paths pointed at the mounted Secret.
*/}}
{{- define "mrtfeed.config" -}}
{{- $config := deepCopy .Values.config }}
{{- $tls := .Values.kafka.tls }}
{{- if $tls.existingSecret }}
{{- $sink := default dict $config.sink }}
{{- $kafka := default dict $sink.kafka }}
{{- $paths := dict "ca_file" "" "cert_file" "" "key_file" "" }}
{{- if $tls.caKey }}{{ $_ := set $paths "ca_file" (printf "%s/%s" (include "mrtfeed.tlsDir" .) $tls.caKey) }}{{ end }}
{{- if $tls.certKey }}{{ $_ := set $paths "cert_file" (printf "%s/%s" (include "mrtfeed.tlsDir" .) $tls.certKey) }}{{ end }}
{{- if $tls.keyKey }}{{ $_ := set $paths "key_file" (printf "%s/%s" (include "mrtfeed.tlsDir" .) $tls.keyKey) }}{{ end }}
{{- $_ := set $kafka "tls" $paths }}
{{- $_ := set $sink "kafka" $kafka }}
{{- $_ := set $config "sink" $sink }}
{{- end }}
{{- toYaml $config }}
{{- end }}

{{/*
Turns a duration value (seconds as a number, or "90s", "15m", "6h", "2d")
into whole seconds for PromQL comparisons.
*/}}
{{- define "mrtfeed.seconds" -}}
{{- $v := toString . }}
{{- if not (regexMatch "^[0-9]+[smhd]?$" $v) }}
{{- fail (printf "%q is not a duration (use seconds or a number with s, m, h or d)" $v) }}
{{- end }}
{{- $n := int (regexFind "^[0-9]+" $v) }}
{{- $unit := trimPrefix (toString $n) $v }}
{{- $scale := get (dict "" 1 "s" 1 "m" 60 "h" 3600 "d" 86400) $unit }}
{{- mul $n $scale }}
{{- end }}

{{/*
Refuses value combinations that would deploy a broken or unsafe release,
with a message that says what to change.
*/}}
{{- define "mrtfeed.validate" -}}
{{- $config := .Values.config }}
{{- $sink := default dict $config.sink }}
{{- $kafka := default dict $sink.kafka }}
{{- $sasl := default dict $kafka.sasl }}
{{- $tls := default dict $kafka.tls }}
{{- $protocol := default "PLAINTEXT" $kafka.security_protocol }}
{{- $scaleOut := default dict $config.scale_out }}
{{- $replicas := int .Values.replicaCount }}
{{- if and (gt $replicas 1) (not $scaleOut.enabled) }}
{{- fail "replicaCount > 1 needs config.scale_out.enabled=true: without it every replica would process every file" }}
{{- end }}
{{- if and $scaleOut.enabled (ne (default "jsonl" $sink.type) "kafka") }}
{{- fail "config.scale_out.enabled needs config.sink.type=kafka: the replicas share their work through Kafka" }}
{{- end }}
{{- if and (gt $replicas 1) .Values.persistence.enabled }}
{{- fail "replicaCount > 1 needs persistence.enabled=false: one ReadWriteOnce volume cannot hold the state of several pods; with scale_out the shared progress is in Kafka and each pod keeps its cache on an emptyDir" }}
{{- end }}
{{- if and .Values.persistence.enabled (eq (include "mrtfeed.updateStrategy" .) "RollingUpdate") }}
{{- fail "updateStrategy=RollingUpdate cannot be used with persistence.enabled: the new pod would wait for the ReadWriteOnce volume (or open the SQLite state) while the old pod still runs" }}
{{- end }}
{{- if or $sasl.username $sasl.password }}
{{- fail "config.sink.kafka.sasl.username/password must not be set in values (they would land in a ConfigMap): put them in a Secret and set kafka.sasl.existingSecret" }}
{{- end }}
{{- if and .Values.kafka.sasl.existingSecret (not (hasPrefix "SASL_" $protocol)) }}
{{- fail "kafka.sasl.existingSecret is set: config.sink.kafka.security_protocol must be SASL_SSL or SASL_PLAINTEXT" }}
{{- end }}
{{- if and .Values.kafka.tls.existingSecret (not (has $protocol (list "SSL" "SASL_SSL"))) }}
{{- fail "kafka.tls.existingSecret is set: config.sink.kafka.security_protocol must be SSL or SASL_SSL" }}
{{- end }}
{{- if and (not .Values.kafka.tls.existingSecret) (or $tls.ca_file $tls.cert_file $tls.key_file) }}
{{- fail "config.sink.kafka.tls.*_file are set by the chart: set kafka.tls.existingSecret (and its caKey, certKey, keyKey) instead" }}
{{- end }}
{{- if ne (empty .Values.kafka.tls.certKey) (empty .Values.kafka.tls.keyKey) }}
{{- fail "kafka.tls.certKey and kafka.tls.keyKey go together (mutual TLS needs both the client certificate and its key)" }}
{{- end }}
{{- $svc := .Values.metrics.service }}
{{- if and (ne $svc.type "LoadBalancer") (or $svc.metallb.addressPool $svc.metallb.loadBalancerIPs $svc.metallb.allowSharedIP $svc.loadBalancerClass $svc.loadBalancerSourceRanges) }}
{{- fail "metrics.service.metallb.*, loadBalancerClass and loadBalancerSourceRanges apply to metrics.service.type=LoadBalancer only" }}
{{- end }}
{{- if and .Values.pdb.enabled (not (kindIs "invalid" .Values.pdb.minAvailable)) (not (kindIs "invalid" .Values.pdb.maxUnavailable)) }}
{{- fail "pdb: set either minAvailable or maxUnavailable, not both" }}
{{- end }}
{{- end }}
