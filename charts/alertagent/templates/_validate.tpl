{{- /*
Values that pass values.schema.json but would crash or misbehave at run time: refused at render
time, naming the values. Included by deployment.yaml (always rendered).
*/ -}}
{{- define "alertagent.validate" -}}
{{- $v := .Values -}}

{{- /* Operator: `alertagent run --leader-elect` exits 2 unless lease > renew deadline > retry > 0
(client-go's leaderelection rule, plans/lease.py LeaseOptions.check). */ -}}
{{- if $v.leaderElection.enabled -}}
{{- $lease := int $v.leaderElection.leaseDurationSeconds -}}
{{- $renew := int $v.leaderElection.renewDeadlineSeconds -}}
{{- $retry := int $v.leaderElection.retryPeriodSeconds -}}
{{- if not (and (gt $lease $renew) (gt $renew $retry) (gt $retry 0)) -}}
{{- fail (printf "leaderElection: leaseDurationSeconds (%d) > renewDeadlineSeconds (%d) > retryPeriodSeconds (%d) > 0 must hold (alertagent run refuses other timings and the pod would crash-loop)" $lease $renew $retry) -}}
{{- end -}}
{{- else if gt (int $v.replicas) 1 -}}
{{- fail "replicas > 1 needs leaderElection.enabled: replicas without a Lease would all reconcile" -}}
{{- end -}}

{{- /* The chart's own pod labels: the Deployments' selectors and the Services' (a second key would
be a duplicate YAML key, or a pod its Service no longer selects). */ -}}
{{- range $key := list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/component" -}}
{{- if hasKey ($v.podLabels | default dict) $key -}}
{{- fail (printf "podLabels.%s: the chart sets this label itself (the pods' selector labels); use another key" $key) -}}
{{- end -}}
{{- end -}}

{{- /* Extra metadata labels must not repeat the chart's own (a duplicate YAML key). */ -}}
{{- $standard := list "app.kubernetes.io/name" "app.kubernetes.io/instance" "app.kubernetes.io/version" "app.kubernetes.io/managed-by" "app.kubernetes.io/component" "helm.sh/chart" -}}
{{- range $field, $labels := dict "selfMonitoring.labels" $v.selfMonitoring.labels "serviceMonitor.labels" $v.serviceMonitor.labels -}}
{{- range $key := $standard -}}
{{- if hasKey ($labels | default dict) $key -}}
{{- fail (printf "%s.%s: the chart sets this label itself; use another key" $field $key) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- /* Gateway: its sqlite queue and rate limits are per replica; a ReadWriteOnce volume holds one pod. */ -}}
{{- if $v.gateway.enabled -}}
{{- $replicas := int $v.gateway.replicas -}}
{{- if and (gt $replicas 1) $v.gateway.persistence.enabled -}}
{{- fail (printf "gateway.replicas=%d with gateway.persistence.enabled: the replicas would share one ReadWriteOnce volume (its SQLite queue); use gateway.replicas=1, or gateway.store=redis without persistence" $replicas) -}}
{{- end -}}
{{- if and (gt $replicas 1) (ne $v.gateway.store "redis") -}}
{{- fail (printf "gateway.replicas=%d with gateway.store=%s: each replica would keep its own queue and rate limits (the robots' limits would be exceeded); use gateway.replicas=1, or gateway.store=redis (shared by the replicas)" $replicas $v.gateway.store) -}}
{{- end -}}
{{- end -}}

{{- /* Self-monitoring. */ -}}
{{- if $v.selfMonitoring.enabled -}}
{{- $sm := $v.selfMonitoring -}}
{{- range $key := list "severity" "alertname" "alertagent_selfmonitoring" -}}
{{- if hasKey ($sm.alertLabels | default dict) $key -}}
{{- fail (printf "selfMonitoring.alertLabels.%s: the self-monitoring alerts set this label themselves (severity: critical, warning, or none for Watchdog); route on it, or add another label" $key) -}}
{{- end -}}
{{- end -}}
{{- $hb := $sm.heartbeat | default dict -}}
{{- if and $hb.url ($hb.urlSecret | default dict).name -}}
{{- fail "selfMonitoring.heartbeat.url and selfMonitoring.heartbeat.urlSecret.name are both set: set one (urlSecret when the URL carries a token)" -}}
{{- end -}}
{{- end -}}
{{- end -}}
