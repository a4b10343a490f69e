{{/*
"true" when the rbac backend is in .Values.backends (rbac, rbac=auto or rbac=on), else "".
*/}}
{{- define "zerotrust-operator.rbacBackend" -}}
{{- range $b := splitList "," .Values.backends }}
{{- if has (trim $b) (list "rbac" "rbac=auto" "rbac=on") }}true{{ end }}
{{- end }}
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
