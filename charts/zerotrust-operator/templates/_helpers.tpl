{{/*
"true" when the rbac backend is in .Values.backends (rbac, rbac=auto or rbac=on), else "".
*/}}
{{- define "zerotrust-operator.rbacBackend" -}}
{{- range $b := splitList "," .Values.backends }}
{{- if has (trim $b) (list "rbac" "rbac=auto" "rbac=on") }}true{{ end }}
{{- end }}
{{- end }}

{{/*
"true" when cert-manager issues the webhook's serving certificate, else "".
*/}}
{{- define "zerotrust-operator.certManager" -}}
{{- if and .Values.webhook.enabled (eq .Values.webhook.certificates "cert-manager") }}true{{ end }}
{{- end }}

{{/*
The operator's ServiceAccount as the API server names it (webhook matchConditions).
*/}}
{{- define "zerotrust-operator.serviceAccountUser" -}}
system:serviceaccount:{{ .Release.Namespace }}:zerotrust-operator
{{- end }}

{{/*
Labels of every object the chart renders.
*/}}
{{- define "zerotrust-operator.labels" -}}
app.kubernetes.io/name: zerotrust-operator
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end }}

{{/*
The metrics port: 8443 (HTTPS, authenticated) or 8080 (HTTP).
*/}}
{{- define "zerotrust-operator.metricsPort" -}}
{{- if .Values.metrics.secure }}8443{{ else }}8080{{ end }}
{{- end }}
