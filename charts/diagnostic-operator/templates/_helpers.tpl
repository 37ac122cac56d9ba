{{/* The chart's name. */}}
{{- define "diagnostic-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The full name of the release's objects. */}}
{{- define "diagnostic-operator.fullname" -}}
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

{{- define "diagnostic-operator.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Labels of every object. (Not app.kubernetes.io/managed-by=diagnostic-operator: that one marks the
     operator's own Jobs and Pods; Helm's objects say Helm.) */}}
{{- define "diagnostic-operator.baseLabels" -}}
helm.sh/chart: {{ include "diagnostic-operator.chart" . }}
app.kubernetes.io/name: {{ include "diagnostic-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: diagnostic-operator
{{- end -}}

{{- define "diagnostic-operator.labels" -}}
{{ include "diagnostic-operator.baseLabels" . }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "diagnostic-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "diagnostic-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "diagnostic-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "diagnostic-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "diagnostic-operator.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{- define "diagnostic-operator.peeringName" -}}
{{- default (include "diagnostic-operator.fullname" .) .Values.peering.name -}}
{{- end -}}

{{/* true when the operator watches every namespace. */}}
{{- define "diagnostic-operator.clusterWide" -}}
{{- if eq .Values.rbac.scope "clusterWide" -}}true{{- end -}}
{{- end -}}

{{/* The watched namespaces (namespaced scope), as a JSON list: watchNamespaces, else the release namespace. */}}
{{- define "diagnostic-operator.watchNamespaces" -}}
{{- if .Values.watchNamespaces -}}
{{- .Values.watchNamespaces | uniq | toJson -}}
{{- else -}}
{{- list .Release.Namespace | toJson -}}
{{- end -}}
{{- end -}}

{{/* Namespaces that get the execution ServiceAccount, as a JSON list. */}}
{{- define "diagnostic-operator.executionNamespaces" -}}
{{- if include "diagnostic-operator.clusterWide" . -}}
{{- prepend .Values.watchNamespaces .Release.Namespace | uniq | toJson -}}
{{- else -}}
{{- include "diagnostic-operator.watchNamespaces" . -}}
{{- end -}}
{{- end -}}

{{- define "diagnostic-operator.secretName" -}}
{{- required "secret.existingSecret is required: the name of a Secret with DIAGNOSTIC_OPERATOR_DATABASE_URL (and the store settings), created before the install" .Values.secret.existingSecret -}}
{{- end -}}

{{/* The operator's configuration (OperatorConfig, camelCase YAML). */}}
{{- define "diagnostic-operator.config" -}}
{{- $e := .Values.executionPods -}}
image: {{ include "diagnostic-operator.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
databaseSecret: {{ include "diagnostic-operator.secretName" . | quote }}
publishGrace: {{ $e.publishGrace | quote }}
initAllowance: {{ $e.initAllowance | quote }}
gpuResource: {{ $e.gpuResource | quote }}
{{- if not (kindIs "invalid" $e.jobTTLSeconds) }}
jobTTLSeconds: {{ $e.jobTTLSeconds }}
{{- end }}
keepJobs: {{ $e.keepJobs }}
securityContext:
  {{- toYaml $e.securityContext | nindent 2 }}
sidecarResources:
  {{- toYaml $e.sidecarResources | nindent 2 }}
queues:
  {{- toYaml $e.queues | nindent 2 }}
volumes:
  {{- toYaml $e.volumes | nindent 2 }}
mounts:
  {{- toYaml $e.mounts | nindent 2 }}
envSources:
  {{- toYaml $e.envSources | nindent 2 }}
podSecurity:
  {{- toYaml $e.podSecurity | nindent 2 }}
podDefaults:
  serviceAccountName: {{ .Values.executionServiceAccount.name | quote }}
  hostNetwork: {{ $e.hostNetwork }}
  imagePullPolicy: {{ $e.imagePullPolicy }}
  {{- with $e.priorityClassName }}
  priorityClassName: {{ . | quote }}
  {{- end }}
  {{- with $e.runtimeClassName }}
  runtimeClassName: {{ . | quote }}
  {{- end }}
  tolerations:
    {{- toYaml $e.tolerations | nindent 4 }}
  nodeSelector:
    {{- toYaml $e.nodeSelector | nindent 4 }}
  imagePullSecrets:
    {{- toYaml $e.imagePullSecrets | nindent 4 }}
  labels:
    {{- toYaml $e.labels | nindent 4 }}
  annotations:
    {{- toYaml $e.annotations | nindent 4 }}
{{- end -}}

{{- /* Only what the operator does: Kopf watches DiagnosticExecutions and patches them (finalizer, progress
       annotations), the daemon patches their status, creates and deletes attempt Jobs, watches Jobs and Pods
       through indices, and posts events; peering keeps its KopfPeering object alive. No get, update, Secrets,
       ConfigMaps or Pod writes. */}}
{{- define "diagnostic-operator.rules" -}}
- apiGroups: [diagnostic-operator.io]
  resources: [diagnosticexecutions]
  verbs: [list, watch, patch]
- apiGroups: [diagnostic-operator.io]
  resources: [diagnosticexecutions/status]
  verbs: [patch]
- apiGroups: [batch]
  resources: [jobs]
  verbs: [get, list, watch, create, delete]  # get: confirm a Job the watch has not shown
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create]
{{- end -}}

{{/* KUBERNETES_SERVICE_HOST/PORT overrides (kubernetesApi values) as env entries, for every Pod that talks to the
     API server: the operator and the hook Pods. */}}
{{- define "diagnostic-operator.apiEnv" -}}
{{- with .Values.kubernetesApi.host }}
- name: KUBERNETES_SERVICE_HOST
  value: {{ . | quote }}
{{- end }}
{{- with .Values.kubernetesApi.port }}
- name: KUBERNETES_SERVICE_PORT
  value: {{ . | quote }}
{{- end }}
{{- end -}}

{{/* Pod-level fields the hook Pods (CRD apply, helm test) share with the operator Pod, so they reach the API
     server and are scheduled wherever the operator can be: network, placement, pull secrets, securityContext. */}}
{{- define "diagnostic-operator.hookPodSpec" -}}
automountServiceAccountToken: true
enableServiceLinks: false
{{- if .Values.hostNetwork }}
hostNetwork: true
dnsPolicy: ClusterFirstWithHostNet
{{- end }}
{{- with .Values.priorityClassName }}
priorityClassName: {{ . | quote }}
{{- end }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- range . }}
  - name: {{ . | quote }}
  {{- end }}
{{- end }}
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
volumes:
  - name: tmp
    emptyDir:
      sizeLimit: 16Mi
{{- end -}}

{{/* The hook container's common part (after name/args). */}}
{{- define "diagnostic-operator.hookContainer" -}}
image: {{ include "diagnostic-operator.image" . | quote }}
imagePullPolicy: {{ .Values.image.pullPolicy }}
env:
  - name: DIAGNOSTIC_OPERATOR_HOME
    value: /tmp/diagnostic-operator
  {{- with include "diagnostic-operator.apiEnv" . | trim }}{{ . | nindent 2 }}{{ end }}
resources:
  {{- toYaml .Values.hooks.resources | nindent 2 }}
securityContext:
  {{- toYaml .Values.securityContext | nindent 2 }}
terminationMessagePolicy: FallbackToLogsOnError
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end -}}
