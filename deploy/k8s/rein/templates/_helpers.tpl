{{/* Names, labels and the pieces every workload shares. */}}

{{- define "rein.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* `<release>-rein`, or the release name alone when it already contains the chart name. */}}
{{- define "rein.fullname" -}}
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

{{/* A component's resource name: (dict "root" $ "component" "executor") → <fullname>-executor. */}}
{{- define "rein.componentName" -}}
{{- printf "%s-%s" (include "rein.fullname" .root | trunc 50 | trimSuffix "-") .component -}}
{{- end -}}

{{- define "rein.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "rein.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rein.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- if .component }}
app.kubernetes.io/component: {{ .component }}
{{- end }}
{{- end -}}

{{/* Labels of every object: (dict "root" $ "component" "<name>" or ""). */}}
{{- define "rein.labels" -}}
helm.sh/chart: {{ include "rein.chart" .root }}
{{ include "rein.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: rein
{{- with .root.Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "rein.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "rein.agentImage" -}}
{{- printf "%s:%s" .Values.agents.image.repository (default .Chart.AppVersion .Values.agents.image.tag) -}}
{{- end -}}

{{- define "rein.agentsNamespace" -}}
{{- default (printf "%s-agents" .Release.Namespace) .Values.agents.namespace -}}
{{- end -}}

{{- define "rein.tokensSecretName" -}}
{{- default (printf "%s-tokens" (include "rein.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{- define "rein.configName" -}}
{{- printf "%s-config" (include "rein.fullname" .) -}}
{{- end -}}

{{/*
Restricted Pod Security (https://kubernetes.io/docs/concepts/security/pod-security-standards/)
for every pod and container the chart makes; the chart tests check each rendered pod against it.
*/}}
{{- define "rein.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
fsGroupChangePolicy: OnRootMismatch
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "rein.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
privileged: false
readOnlyRootFilesystem: true
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{/*
Environment from Secrets, each only to the services that use it: NATS and the event log to all,
Redis to the orchestrator (run ownership), the judge's key to the verifier. The ConfigMap carries
everything else (envFrom). (dict "root" $ "component" "<name>")
*/}}
{{- define "rein.secretEnv" -}}
{{- $v := .root.Values -}}
{{- $c := .component -}}
{{- if and $v.nats.existingSecret $v.nats.perServiceUsers }}
{{- /* deploy/nats/rein-auth.conf: service <name> is NATS user rein-<name>, allowed only its subjects. */}}
- name: REIN_NATS_USER
  value: {{ printf "rein-%s" $c | quote }}
- name: REIN_NATS_PASS
  valueFrom:
    secretKeyRef: { name: {{ $v.nats.existingSecret | quote }}, key: {{ printf "%s-password" $c | quote }} }
{{- else if $v.nats.existingSecret }}
- name: REIN_NATS_USER
  valueFrom:
    secretKeyRef: { name: {{ $v.nats.existingSecret | quote }}, key: {{ $v.nats.userKey | quote }} }
- name: REIN_NATS_PASS
  valueFrom:
    secretKeyRef: { name: {{ $v.nats.existingSecret | quote }}, key: {{ $v.nats.passwordKey | quote }} }
{{- end }}
{{- if and (eq $v.store.kind "kurrentdb") $v.kurrentdb.existingSecret }}
- name: REIN_KURRENTDB_URL
  valueFrom:
    secretKeyRef: { name: {{ $v.kurrentdb.existingSecret | quote }}, key: {{ $v.kurrentdb.urlKey | quote }} }
{{- end }}
{{- if and (eq $c "orchestrator") $v.redis.existingSecret }}
- name: REIN_REDIS_URL
  valueFrom:
    secretKeyRef: { name: {{ $v.redis.existingSecret | quote }}, key: {{ $v.redis.urlKey | quote }} }
{{- end }}
{{- if and (eq $c "verifier") $v.judge.existingSecret }}
- name: REIN_JUDGE_API_KEY
  valueFrom:
    secretKeyRef: { name: {{ $v.judge.existingSecret | quote }}, key: {{ $v.judge.apiKeyKey | quote }} }
{{- end }}
{{- end -}}

{{/*
A service's pod template: (dict "root" $ "component" "<name>" "values" <component values>
"extraEnv", "extraPorts", "extraVolumeMounts", "extraVolumes": YAML text, optional). Each service is
`rein up --services <name>`.
*/}}
{{- define "rein.podTemplate" -}}
{{- $root := .root -}}
{{- $v := $root.Values -}}
{{- $c := .values -}}
metadata:
  labels:
    {{- include "rein.labels" (dict "root" $root "component" .component) | nindent 4 }}
  annotations:
    checksum/config: {{ include (print $root.Template.BasePath "/configmap.yaml") $root | sha256sum }}
    {{- if $v.metrics.annotations }}
    prometheus.io/scrape: "true"
    prometheus.io/port: {{ $v.http.port | quote }}
    prometheus.io/path: /metrics
    {{- end }}
    {{- with $v.podAnnotations }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
spec:
  serviceAccountName: {{ include "rein.componentName" . }}
  automountServiceAccountToken: {{ eq .component "executor" }}
  enableServiceLinks: false
  {{- with $v.imagePullSecrets }}
  imagePullSecrets:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  securityContext:
    {{- include "rein.podSecurityContext" $root | nindent 4 }}
  # `rein up` drains in-flight work on SIGTERM before it exits.
  terminationGracePeriodSeconds: 60
  containers:
    - name: {{ .component }}
      image: {{ include "rein.image" $root | quote }}
      imagePullPolicy: {{ $v.image.pullPolicy }}
      args: [up, --services, {{ .component }}]
      envFrom:
        - configMapRef:
            name: {{ include "rein.configName" $root }}
      env:
        # The executor keeps the runs' repositories on its volume; the others keep nothing.
        - name: REIN_DATA_DIR
          value: {{ ternary "/data/rein" "/tmp/rein" (eq .component "executor") }}
        {{- with include "rein.secretEnv" (dict "root" $root "component" .component) | trim }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- if eq .component "orchestrator" }}
        - name: REIN_TOKENS_FILE
          value: /etc/rein/tokens/{{ $v.auth.tokensKey }}
        {{- end }}
        {{- with .extraEnv }}
        {{- . | nindent 8 }}
        {{- end }}
        {{- with $c.extraEnv }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      ports:
        - name: http
          containerPort: {{ $v.http.port }}
          protocol: TCP
        {{- with .extraPorts }}
        {{- . | nindent 8 }}
        {{- end }}
      livenessProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 10
        timeoutSeconds: 3
        failureThreshold: 3
      readinessProbe:
        httpGet: { path: /readyz, port: http }
        periodSeconds: 5
        timeoutSeconds: 3
        failureThreshold: 3
      # Startup replays the log (orchestrator, audit); the liveness probe waits for it.
      startupProbe:
        httpGet: { path: /healthz, port: http }
        periodSeconds: 5
        failureThreshold: 60
      resources:
        {{- toYaml $c.resources | nindent 8 }}
      securityContext:
        {{- include "rein.containerSecurityContext" $root | nindent 8 }}
      volumeMounts:
        - name: tmp
          mountPath: /tmp
        {{- if eq .component "orchestrator" }}
        - name: tokens
          mountPath: /etc/rein/tokens
          readOnly: true
        {{- end }}
        {{- with .extraVolumeMounts }}
        {{- . | nindent 8 }}
        {{- end }}
  volumes:
    - name: tmp
      emptyDir: {}
    {{- if eq .component "orchestrator" }}
    - name: tokens
      secret:
        secretName: {{ include "rein.tokensSecretName" $root }}
        defaultMode: 288 # 0440: the service's group (fsGroup) reads it
    {{- end }}
    {{- with .extraVolumes }}
    {{- . | nindent 4 }}
    {{- end }}
  {{- with $c.nodeSelector }}
  nodeSelector:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.tolerations }}
  tolerations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  {{- with $c.affinity }}
  affinity:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end -}}
