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

{{- define "crunch.balancerConfig" -}}
{{- $b := .Values.balancer }}
{{- $services := (include "crunch.services" . | fromYaml).items }}
{{- $replicas := int $b.replicas }}
{{- $port := int .Values.crunch.port }}
{{- $queue := int $b.queueTimeout }}
{{- $server := add (int $b.taskTimeout) 5 }}
{{- $client := add $queue $server 5 }}
{{- $retry := int $b.retryAfter -}}
# crunch-balancer: HAProxy in front of each microservice's pods, found through
# their headless Service. Rendered by helm/crunch; the same text as render_kubernetes
# in app/balancer/haproxy.py. Services (name path address workers slots):
{{- range $svc := $services }}
{{- $fqdn := printf "%s.%s.svc.%s" (include "crunch.podsServiceName" (dict "root" $ "svc" $svc)) $.Release.Namespace $b.clusterDomain }}
#   {{ $svc.name }} {{ $svc.path }} {{ $fqdn }}:{{ $port }} workers={{ int $svc.workers }} slots={{ max (int $svc.replicas) (int $svc.maxReplicas) }}
{{- end }}
# Busy-aware: leastconn, maxconn per pod = workers / {{ $replicas }} balancer replicas (at least 1) + 0; timeout queue {{ $queue }}s.

global
    maxconn {{ int $b.maxClients }}
{{- if $b.accessLog }}
    log stdout format raw local0 info
{{- end }}

resolvers dns
    parse-resolv-conf
    accepted_payload_size 8192
    resolve_retries 3
    timeout resolve 1s
    timeout retry 1s
    hold valid 2s
    hold other 2s
    hold refused 2s
    hold nx 2s
    hold timeout 2s
    hold obsolete 0s

defaults
    mode http
{{- if $b.accessLog }}
    log global
    option httplog
{{- end }}
    timeout connect 2s
    timeout client {{ $client }}s
    timeout server {{ $server }}s
    timeout queue {{ $queue }}s
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout check 2s
    # An instance that refuses the connection or answers 503 (its queue is full, or it
    # drains) never started the task: try another one.
    option redispatch
    retries 2
    retry-on conn-failure 503
    # HAProxy's own 503 (queue timeout, no instance ready) speaks the app's error JSON.
    http-error status 503 content-type application/json string '{"error": "overloaded", "detail": "every instance stayed busy (or none is ready) for the balancer queue timeout of {{ $queue }}s; retry later"}' hdr Retry-After {{ $retry }}

frontend crunch
    bind 0.0.0.0:{{ $port }}
    maxconn {{ int $b.maxClients }}
{{- $root := "" }}
{{- range $svc := $services }}
{{- if eq $svc.path "/" }}
{{- if not $root }}{{ $root = $svc.name }}{{ end }}
{{- else }}
{{- $prefix := trimSuffix "/" $svc.path }}
    acl route_{{ $svc.name }} path {{ $prefix }} or path_beg {{ $prefix }}/
    use_backend {{ $svc.name }} if route_{{ $svc.name }}
{{- end }}
{{- end }}
{{- if $root }}
    default_backend {{ $root }}
{{- else }}
    http-request return status 404 content-type application/json string '{"error": "not found"}'
{{- end }}
    # Every 503 tells the client when to come back, whoever produced it.
    http-after-response set-header Retry-After {{ $retry }} if { status 503 } !{ res.hdr(retry-after) -m found }
{{- range $svc := $services }}
{{- $fqdn := printf "%s.%s.svc.%s" (include "crunch.podsServiceName" (dict "root" $ "svc" $svc)) $.Release.Namespace $b.clusterDomain }}

backend {{ $svc.name }}
    balance leastconn
    option httpchk
    http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    http-response set-header X-Crunch-Instance %[srv_name]
    default-server check inter 1s fastinter 1s fall 2 rise 1
    server-template {{ $svc.name }} {{ max (int $svc.replicas) (int $svc.maxReplicas) }} {{ $fqdn }}:{{ $port }} resolvers dns init-addr none maxconn {{ max 1 (div (int $svc.workers) $replicas) }}
{{- end }}

listen stats
    bind 0.0.0.0:{{ int $b.statsPort }}
    http-request return status 200 content-type text/plain string ok if { path /healthz }
    http-request use-service prometheus-exporter if { path /metrics }
    stats enable
    stats uri /
    stats refresh 2s
{{ end }}

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
