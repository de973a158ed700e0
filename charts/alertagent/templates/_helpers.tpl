{{- define "alertagent.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}{{ .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else -}}{{ printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{- define "alertagent.labels" -}}
app.kubernetes.io/name: alertagent
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "alertagent.selectorLabels" -}}
app.kubernetes.io/name: alertagent
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "alertagent.serviceAccountName" -}}
{{- default (include "alertagent.fullname" .) .Values.serviceAccount.name -}}
{{- end -}}

{{- define "alertagent.image" -}}
{{ .Values.image.repository }}:{{ default .Chart.AppVersion .Values.image.tag }}
{{- end -}}

{{- define "alertagent.gatewayName" -}}
{{- printf "%s-gateway" (include "alertagent.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- /* The Secret holding the webhook's serving certificate (tls.crt, tls.key, ca.crt). */ -}}
{{- define "alertagent.webhookSecretName" -}}
{{- if eq .Values.webhook.certificates "secret" -}}
{{- required "webhook.secretName is required with webhook.certificates=secret" .Values.webhook.secretName -}}
{{- else -}}
{{- default (printf "%s-webhook-tls" (include "alertagent.fullname" .)) .Values.webhook.secretName -}}
{{- end -}}
{{- end -}}

{{- /* The Service DNS name the API server calls the webhook at (the serving certificate's SAN). */ -}}
{{- define "alertagent.webhookHost" -}}
{{ include "alertagent.fullname" . }}.{{ .Release.Namespace }}.svc
{{- end -}}

{{- /* Hardened container settings shared by the operator and the gateway. */ -}}
{{- define "alertagent.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- define "alertagent.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
fsGroup: 65532
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{- /*
The minimum Kubernetes version, checked only against a real cluster: `helm template` (no cluster)
reports Helm's built-in default (v1.20.0) as .Capabilities.KubeVersion, so Chart.yaml's kubeVersion
would refuse every offline render. A `lookup` returns nothing without a cluster, so the check runs
on `helm install/upgrade` (and `helm template --dry-run=server`) alone. kube-system, not the release
namespace: the API server creates it, while `--create-namespace` makes the release namespace only
after the templates are rendered.
*/ -}}
{{- define "alertagent.checkKubeVersion" -}}
{{- $minimum := "1.30.0-0" -}}
{{- if and (lookup "v1" "Namespace" "" "kube-system") (semverCompare (printf "<%s" $minimum) .Capabilities.KubeVersion.Version) -}}
{{- fail (printf "AlertAgent needs Kubernetes >= 1.30 (its CRDs validate with CEL rules that carry fieldPath and reason); this cluster is %s" .Capabilities.KubeVersion.Version) -}}
{{- end -}}
{{- end -}}
