{{/*
Names and labels. A service's resources are named <fullname>-<service name>, so
`helm install crunch helm/crunch` gives crunch-web, crunch-hello, crunch-world.
*/}}

{{- define "crunch.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "crunch.fullname" -}}
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

{{- define "crunch.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels shared by every resource of the release. */}}
{{- define "crunch.labels" -}}
helm.sh/chart: {{ include "crunch.chart" . }}
app.kubernetes.io/name: {{ include "crunch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: crunch
{{- end }}

{{- define "crunch.selectorLabels" -}}
app.kubernetes.io/name: {{ include "crunch.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* Call with (dict "root" $ "svc" $svc). */}}
{{- define "crunch.svcName" -}}
{{- printf "%s-%s" (include "crunch.fullname" .root) .svc.name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "crunch.svcSelectorLabels" -}}
{{ include "crunch.selectorLabels" .root }}
app.kubernetes.io/component: {{ .svc.name }}
{{- end }}

{{- define "crunch.svcLabels" -}}
{{ include "crunch.labels" .root }}
app.kubernetes.io/component: {{ .svc.name }}
{{- end }}

{{- define "crunch.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "crunch.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "crunch.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.digest }}
{{- printf "%s:%s@%s" .Values.image.repository $tag .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/*
The services list with serviceDefaults merged in (entry wins; env lists are
concatenated, defaults first), returned as YAML: {"items": [...]}.
Also checks what a JSON schema cannot: unique names and paths, min <= max.
*/}}
{{- define "crunch.services" -}}
{{- $items := list }}
{{- $names := dict }}
{{- $paths := dict }}
{{- range $entry := .Values.services }}
{{- $svc := mergeOverwrite (deepCopy $.Values.serviceDefaults) (deepCopy $entry) }}
{{- $_ := set $svc "env" (concat ($.Values.serviceDefaults.env | default list) ($entry.env | default list)) }}
{{- if hasKey $names $svc.name }}
{{- fail (printf "services: the name %q is used twice" $svc.name) }}
{{- end }}
{{- $_ := set $names $svc.name true }}
{{- if hasKey $paths $svc.path }}
{{- fail (printf "services: the path %q is routed to two services" $svc.path) }}
{{- end }}
{{- $_ := set $paths $svc.path true }}
{{- if gt (int $svc.minReplicas) (int $svc.maxReplicas) }}
{{- fail (printf "services[%s]: minReplicas (%d) must not exceed maxReplicas (%d)" $svc.name (int $svc.minReplicas) (int $svc.maxReplicas)) }}
{{- end }}
{{- if and (eq (int $svc.minReplicas) 0) (not (and (eq $.Values.autoscaling.mode "keda") $.Values.balancer.enabled)) }}
{{- fail (printf "services[%s]: minReplicas 0 (scale to zero) needs autoscaling.mode keda and balancer.enabled: only KEDA scales a Deployment to zero, and only the balancer holds the first request while a pod starts" $svc.name) }}
{{- end }}
{{- $items = append $items $svc }}
{{- end }}
{{- toYaml (dict "items" $items) }}
{{- end }}

{{/*
Busy-aware Ingress annotations for one Service. Each controller replica keeps its
own connection count, so a pod with W workers behind R replicas gets W / R per
replica (at least 1).
*/}}
{{- define "crunch.busyAwareAnnotations" -}}
{{- $ba := .root.Values.ingress.busyAware }}
{{- $workers := int .svc.workers }}
{{- $replicas := int $ba.controllerReplicas }}
{{- if eq $ba.controller "haproxy-ingress" }}
{{- $perReplica := max 1 (div $workers $replicas) }}
haproxy-ingress.github.io/maxconn-server: {{ $perReplica | quote }}
haproxy-ingress.github.io/timeout-queue: {{ $ba.queueTimeout | quote }}
haproxy-ingress.github.io/balance-algorithm: {{ $ba.balance | quote }}
{{- else if eq $ba.controller "haproxytech" }}
{{- if lt $workers $replicas }}
{{- fail (printf "ingress.busyAware: service %q has %d workers but the controller has %d replicas; haproxy.org/pod-maxconn is divided by the replica count and would round down to 0 (no limit). Give it at least %d workers or use controller haproxy-ingress." .svc.name $workers $replicas $replicas) }}
{{- end }}
haproxy.org/pod-maxconn: {{ $workers | quote }}
haproxy.org/load-balance: {{ $ba.balance | quote }}
{{- end }}
{{- end }}

{{/* A decimal as a Kubernetes quantity in milli-units: 0.7 -> 700m. */}}
{{- define "crunch.quantity" -}}
{{- printf "%dm" (int (round (mulf . 1000) 0)) }}
{{- end }}

{{/*
The PromQL both KEDA and the docs use: the summed saturation of one Deployment's
pods (pod names are <deployment>-<replicaset hash>-<suffix>), each averaged over
the window like the prometheus-adapter rule does.
*/}}
{{/* Requests in the balancer's backend of one service (in flight, queued or held
while no pod is up), summed over the balancer's pods. Call with (dict "namespace"
"balancer" "backend"). */}}
{{- define "crunch.balancerSessionsQuery" -}}
{{- printf "sum(haproxy_backend_current_sessions{namespace=\"%s\",pod=~\"%s-[a-z0-9]+-[a-z0-9]+\",proxy=\"%s\"})" .namespace .balancer .backend }}
{{- end }}

{{- define "crunch.saturationQuery" -}}
{{- printf "sum(avg_over_time(crunch_saturation{namespace=\"%s\",pod=~\"%s-[a-z0-9]+-[a-z0-9]+\"}[%s]))" .namespace .name .window }}
{{- end }}

{{/*
The CPU request of one service's container, call with (dict "root" $ "svc" $svc).
The limit is always `workers` (the pool reads its size from it); the request equals
it unless resources.requests.cpu is set, which may lower it (never raise it) so
more pods fit on small nodes. The pool is sized to the limit either way.
*/}}
{{- define "crunch.cpuRequest" -}}
{{- $limit := int .svc.workers }}
{{- $req := dig "requests" "cpu" "" (.svc.resources | default dict) | toString }}
{{- if eq $req "" }}
{{- $limit }}
{{- else }}
{{- $milli := 0 }}
{{- if hasSuffix "m" $req }}
{{- $milli = int (trimSuffix "m" $req) }}
{{- else }}
{{- $milli = int (round (mulf (float64 $req) 1000) 0) }}
{{- end }}
{{- if or (le $milli 0) (gt $milli (mul $limit 1000)) }}
{{- fail (printf "services[%s]: resources.requests.cpu (%s) must be above 0 and at most the CPU limit, which is workers (%d)" .svc.name $req $limit) }}
{{- end }}
{{- $req }}
{{- end }}
{{- end }}

{{/*
The in-cluster balancer (balancer.enabled): its name, and its HAProxy configuration,
the same text as render_kubernetes in app/balancer/haproxy.py (tests/packaging
compares the two). Each microservice's pods are found through the headless Service
<service>-pods; a pod with W workers gets at most W / balancer.replicas requests from
each balancer replica (at least 1), the rest wait in the balancer's queue.
*/}}
{{- define "crunch.balancerName" -}}
{{- printf "%s-balancer" (include "crunch.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Call with (dict "root" $ "svc" $svc). */}}
{{- define "crunch.podsServiceName" -}}
{{- printf "%s-pods" (include "crunch.svcName" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The arguments of `crunch haproxy-config` that render the balancer's HAProxy
configuration (app/balancer/haproxy.py, render_kubernetes), one per line. */}}
{{- define "crunch.balancerArgs" -}}
{{- $b := .Values.balancer -}}
{{- $services := (include "crunch.services" . | fromYaml).items -}}
{{- range $svc := $services }}
{{- $fqdn := printf "%s.%s.svc.%s" (include "crunch.podsServiceName" (dict "root" $ "svc" $svc)) $.Release.Namespace $b.clusterDomain }}
- --kube-service={{ $svc.name }}={{ $svc.path }}@{{ $fqdn }}:{{ int $.Values.crunch.port }}/{{ int $svc.workers }}/{{ max (int $svc.replicas) (int $svc.maxReplicas) }}
{{- end }}
- --balancer-replicas={{ int $b.replicas }}
- --host=0.0.0.0
- --port={{ int .Values.crunch.port }}
- --stats-port={{ int $b.statsPort }}
- --task-timeout={{ $b.taskTimeout }}
- --queue-timeout={{ $b.queueTimeout }}
- --queue-slack={{ int $b.queueSlack }}
- --retry-after={{ int $b.retryAfter }}
- --max-clients={{ int $b.maxClients }}
{{- if $b.accessLog }}
- --access-log
{{- end }}
{{- end }}

{{/* The crunch pods of every service, as a NetworkPolicy podSelector.
Call with (dict "root" $ "services" $services). */}}
{{- define "crunch.appPodSelector" -}}
matchLabels:
  {{- include "crunch.selectorLabels" .root | nindent 2 }}
matchExpressions:
  - key: app.kubernetes.io/component
    operator: In
    values:
      {{- range .services }}
      - {{ .name }}
      {{- end }}
{{- end }}

{{/* The one egress every pod of the chart needs: DNS (networkPolicy.dns). */}}
{{- define "crunch.dnsEgress" -}}
{{- $dns := .Values.networkPolicy.dns -}}
# DNS, and only to the cluster's DNS servers.
- ports:
    - port: 53
      protocol: UDP
    - port: 53
      protocol: TCP
  to:
    - namespaceSelector:
        matchLabels:
          kubernetes.io/metadata.name: {{ $dns.namespace }}
      {{- with $dns.podLabels }}
      podSelector:
        matchLabels:
          {{- toYaml . | nindent 10 }}
      {{- end }}
{{- end }}
