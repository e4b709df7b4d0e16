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
{{- if $a.existingSecretKeys.zookeeperPassword }}{{ $files = append $files (printf "%s:ZOOKEEPER__PASSWORD_FILE" $a.existingSecretKeys.zookeeperPassword) }}{{ end }}
{{- else }}
{{- if $a.apiToken }}{{ $files = append $files "api-token:API__TOKEN_FILE" }}{{ end }}
{{- if $a.redisPassword }}{{ $files = append $files "redis-password:REDIS__PASSWORD_FILE" }}{{ end }}
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
