{{/* The chart's name, overridable. */}}
{{- define "failover.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release-qualified name used for every resource. */}}
{{- define "failover.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "failover.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "failover.selectorLabels" -}}
app.kubernetes.io/name: {{ include "failover.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "failover.labels" -}}
helm.sh/chart: {{ include "failover.chart" . }}
{{ include "failover.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
The metadata annotations of one object: commonAnnotations under the object's own. Call
with (dict "root" $ "own" .Values.x.annotations); renders the whole "annotations:" key, or
nothing.
*/}}
{{- define "failover.annotations" -}}
{{- $all := merge (deepCopy (.own | default dict)) (.root.Values.commonAnnotations | default dict) }}
{{- with $all }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* registry/repository:tag@digest, the registry from image.registry or global.imageRegistry. */}}
{{- define "failover.image" -}}
{{- $registry := .Values.image.registry | default (dig "imageRegistry" "" (.Values.global | default dict)) }}
{{- $ref := printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- if $registry }}{{ $ref = printf "%s/%s" (trimSuffix "/" $registry) $ref }}{{ end }}
{{- if .Values.image.digest }}{{ $ref = printf "%s@%s" $ref .Values.image.digest }}{{ end }}
{{- $ref }}
{{- end }}

{{/* The Service the operators' tools use: the one that keeps not-ready replicas. */}}
{{- define "failover.operatorService" -}}
{{- if .Values.serviceAll.enabled }}{{ include "failover.fullname" . }}-all{{ else }}{{ include "failover.fullname" . }}{{ end }}
{{- end }}

{{/* http or https, as the controller serves its API. */}}
{{- define "failover.apiScheme" -}}
{{- if dig "api" "tls_cert_file" "" (.Values.config | default dict) }}https{{ else }}http{{ end }}
{{- end }}

{{/*
The Deployment's strategy, matched to podAntiAffinity: a surge pod under hard anti-affinity
needs a node without a replica, and with nodes = replicas there is none, so the rollout
would wait forever. Refused rather than rendered.
*/}}
{{- define "failover.strategy" -}}
{{- $s := .Values.updateStrategy }}
{{- if eq $s.type "Recreate" }}
{{- if $s.rollingUpdate }}
{{- fail "updateStrategy.rollingUpdate: only with type RollingUpdate (Recreate stops every replica first); remove it" }}
{{- end }}
type: Recreate
{{- else }}
{{- $hard := and (eq .Values.podAntiAffinity "hard") (not .Values.affinity) }}
{{- $default := dict "maxSurge" 1 "maxUnavailable" 0 }}
{{- if $hard }}{{ $default = dict "maxSurge" 0 "maxUnavailable" 1 }}{{ end }}
{{- /* Not merge: it takes a 0 the user wrote for absent. */}}
{{- $own := $s.rollingUpdate | default dict }}
{{- $rolling := dict }}
{{- range $key := list "maxSurge" "maxUnavailable" }}
{{- $_ := set $rolling $key (ternary (index $own $key) (index $default $key) (hasKey $own $key)) }}
{{- end }}
{{- if and $hard (not (has (toString $rolling.maxSurge) (list "0" "0%"))) }}
{{- fail (printf "updateStrategy.rollingUpdate.maxSurge: %v with podAntiAffinity: hard never schedules the surge pod when nodes = replicas, and the rollout waits forever; use maxSurge: 0 (the default under hard) or podAntiAffinity: soft" $rolling.maxSurge) }}
{{- end }}
{{- if and (has (toString $rolling.maxSurge) (list "0" "0%")) (has (toString $rolling.maxUnavailable) (list "0" "0%")) }}
{{- fail "updateStrategy.rollingUpdate: maxSurge and maxUnavailable are both 0, so no pod can ever be replaced" }}
{{- end }}
type: RollingUpdate
rollingUpdate:
  {{- toYaml $rolling | nindent 2 }}
{{- end }}
{{- end }}

{{/* Values that would otherwise be ignored without a word. */}}
{{- define "failover.validate" -}}
{{- if and .Values.auth.namedTokens (not .Values.auth.existingSecret) }}
{{- fail "auth.namedTokens: needs auth.existingSecret (each token is a key of your own Secret); set it or remove namedTokens" }}
{{- end }}
{{- end }}

{{- define "failover.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "failover.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "failover.secretName" -}}
{{- default (include "failover.fullname" .) .Values.auth.existingSecret }}
{{- end }}

{{/*
The secrets in use, as a list of "<key in the Secret>:<config section>" pairs: from
existingSecretKeys with an existing Secret, else one per non-empty value.
*/}}
{{- define "failover.secretFiles" -}}
{{- $files := list }}
{{- $a := .Values.auth }}
{{- if $a.existingSecret }}
{{- if $a.existingSecretKeys.apiToken }}{{ $files = append $files (printf "%s:API__TOKEN_FILE" $a.existingSecretKeys.apiToken) }}{{ end }}
{{- if $a.existingSecretKeys.redisPassword }}{{ $files = append $files (printf "%s:REDIS__PASSWORD_FILE" $a.existingSecretKeys.redisPassword) }}{{ end }}
{{- if $a.existingSecretKeys.redisSentinelPassword }}{{ $files = append $files (printf "%s:REDIS__SENTINEL_PASSWORD_FILE" $a.existingSecretKeys.redisSentinelPassword) }}{{ end }}
{{- if $a.existingSecretKeys.zookeeperPassword }}{{ $files = append $files (printf "%s:ZOOKEEPER__PASSWORD_FILE" $a.existingSecretKeys.zookeeperPassword) }}{{ end }}
{{- else }}
{{- if $a.apiToken }}{{ $files = append $files "api-token:API__TOKEN_FILE" }}{{ end }}
{{- if $a.redisPassword }}{{ $files = append $files "redis-password:REDIS__PASSWORD_FILE" }}{{ end }}
{{- if $a.redisSentinelPassword }}{{ $files = append $files "redis-sentinel-password:REDIS__SENTINEL_PASSWORD_FILE" }}{{ end }}
{{- if $a.zookeeperPassword }}{{ $files = append $files "zookeeper-password:ZOOKEEPER__PASSWORD_FILE" }}{{ end }}
{{- end }}
{{- join "," $files }}
{{- end }}

{{/*
Named API tokens (keys of existingSecret) as the value of FAILOVER_API__TOKENS: a JSON list
the config loader reads like YAML. Empty without existingSecret or names.
*/}}
{{- define "failover.namedTokens" -}}
{{- if and .Values.auth.existingSecret .Values.auth.namedTokens }}
{{- $tokens := list }}
{{- range .Values.auth.namedTokens }}
{{- $tokens = append $tokens (dict "name" .name "token_file" (printf "/run/secrets/failover/%s" .key)) }}
{{- end }}
{{- toJson $tokens }}
{{- end }}
{{- end }}

{{/*
The Secret key holding a token the chart's own tools (helm test, ServiceMonitor) can send:
the unnamed API token, else the first named one; empty if there is none.
*/}}
{{- define "failover.toolTokenKey" -}}
{{- $a := .Values.auth }}
{{- if $a.existingSecret }}
{{- $a.existingSecretKeys.apiToken | default (dig "key" "" (first ($a.namedTokens | default (list dict)))) }}
{{- else if $a.apiToken }}api-token
{{- end }}
{{- end }}

{{/* Whether the API needs a token for reads (config.api.read_auth). */}}
{{- define "failover.readAuth" -}}
{{- if dig "api" "read_auth" false (.Values.config | default dict) }}true{{ end }}
{{- end }}
