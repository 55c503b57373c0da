{{/* Names, labels and images shared by every template. */}}

{{/* "owx" or nameOverride; 63 characters at most (a DNS label). */}}
{{- define "owx.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* "<release>-<name>", or the release name alone when it already contains the name. */}}
{{- define "owx.fullname" -}}
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

{{/* "<chart>-<version>" for the helm.sh/chart label ("+" is not allowed in labels). */}}
{{- define "owx.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The selector labels of one component: (dict "ctx" $ "component" "gateway"). */}}
{{- define "owx.selectorLabels" -}}
app.kubernetes.io/name: {{ include "owx.name" .ctx }}
app.kubernetes.io/instance: {{ .ctx.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* The standard labels of one component's objects. */}}
{{- define "owx.labels" -}}
helm.sh/chart: {{ include "owx.chart" .ctx }}
{{ include "owx.selectorLabels" . }}
app.kubernetes.io/version: {{ .ctx.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .ctx.Release.Service }}
app.kubernetes.io/part-of: owx
{{- end -}}

{{/* An owx image reference: (dict "ctx" $ "repository" "owx/gateway"). */}}
{{- define "owx.image" -}}
{{- printf "%s%s:%s" .ctx.Values.image.registry .repository (default .ctx.Chart.AppVersion .ctx.Values.image.tag) -}}
{{- end -}}

{{- define "owx.poolManager.serviceAccountName" -}}
{{- if .Values.poolManager.serviceAccount.create -}}
{{- default (printf "%s-pool-manager" (include "owx.fullname" .)) .Values.poolManager.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.poolManager.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Redis as host:port: the external one or the chart's Service. */}}
{{- define "owx.redisAddress" -}}
{{- if .Values.redis.external.address -}}
{{- .Values.redis.external.address -}}
{{- else -}}
{{- printf "%s-redis.%s.svc:6379" (include "owx.fullname" .) .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* The pool-manager's control API as host:port (the gateways' upstream). */}}
{{- define "owx.poolAddress" -}}
{{- printf "%s-pool-manager.%s.svc:%d" (include "owx.fullname" .) .Release.Namespace (int .Values.poolManager.port) -}}
{{- end -}}

{{/* --stemcells "kind:MB=count,..." from runtimes.stemcells ("" = none). */}}
{{- define "owx.stemcells" -}}
{{- $parts := list -}}
{{- range .Values.runtimes.stemcells -}}
{{- $parts = append $parts (printf "%s:%d=%d" .kind (int .memory) (int .count)) -}}
{{- end -}}
{{- join "," $parts -}}
{{- end -}}

{{/* runtimes.json: the info document's "runtimes" (what GET / lists and the gateway accepts). */}}
{{- define "owx.runtimesInfo" -}}
{{- $doc := dict -}}
{{- range .Values.runtimes.kinds -}}
{{- $fam := get $doc .family | default list -}}
{{- $entry := dict "kind" .kind "image" (include "owx.runtimeImage" (dict "ctx" $ "kind" .)) "deprecated" false "default" (default false .default) "attached" false "requireMain" false -}}
{{- $_ := set $doc .family (append $fam $entry) -}}
{{- end -}}
{{- toJson $doc -}}
{{- end -}}

{{/* The image of one kind's runtime containers: its repository under
     image.registry, with its own tag or the owx images' tag. */}}
{{- define "owx.runtimeImage" -}}
{{- printf "%s%s:%s" .ctx.Values.image.registry .kind.image (default (default .ctx.Chart.AppVersion .ctx.Values.image.tag) .kind.tag) -}}
{{- end -}}

{{/* runtimes-exec.json for the pool-manager: kind -> the image of its
     runtime containers and owx's runtime command ({port}: the runtime's); the family's
     default also as "<family>:default" (as tools/owx/runtimes.py writes it). */}}
{{- define "owx.runtimesExec" -}}
{{- $doc := dict -}}
{{- range .Values.runtimes.kinds -}}
{{- $entry := dict "kind" .kind "family" .family "default" (default false .default) "image" (include "owx.runtimeImage" (dict "ctx" $ "kind" .)) "command" (list "/opt/owx/bin/runtime" "--port" "{port}") -}}
{{- $_ := set $doc .kind $entry -}}
{{- if .default -}}
{{- $_ := set $doc (printf "%s:default" .family) $entry -}}
{{- end -}}
{{- end -}}
{{- toJson $doc -}}
{{- end -}}

{{/* --kube-images for the pool-manager's Kubernetes backend: kind -> the
     image of its runtime containers and, when the values name it, the
     image's entrypoint (else the runtime command comes from
     runtimes-exec.json, {port} = 8080: owx's runtime images). */}}
{{- define "owx.kubeImages" -}}
{{- $doc := dict -}}
{{- range .Values.runtimes.kinds -}}
{{- $entry := dict "image" (include "owx.runtimeImage" (dict "ctx" $ "kind" .)) -}}
{{- if .command -}}
{{- $_ := set $entry "command" .command -}}
{{- end -}}
{{- $_ := set $doc .kind $entry -}}
{{- if .default -}}
{{- $_ := set $doc (printf "%s:default" .family) $entry -}}
{{- end -}}
{{- end -}}
{{- toJson $doc -}}
{{- end -}}

{{/* The Secret of every component's credentials: secrets.existingSecret or
     the chart's (templates/secrets.yaml). */}}
{{- define "owx.secretName" -}}
{{- default (printf "%s-secrets" (include "owx.fullname" .)) .Values.secrets.existingSecret -}}
{{- end -}}

{{/* The Secret mounted into action pods (redis-sidecar, internal-token and
     sidecar-metrics-token only), which the pool-manager names in each pod
     it creates. */}}
{{- define "owx.sidecarSecretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- required "secrets.existingSidecarSecret is required with secrets.existingSecret" .Values.secrets.existingSidecarSecret -}}
{{- else -}}
{{- printf "%s-sidecar" (include "owx.fullname" .) -}}
{{- end -}}
{{- end -}}

{{/* Where a container finds its entries of the Secret. */}}
{{- define "owx.secretsDir" -}}
/etc/owx/secrets
{{- end -}}

{{/* A volume of the Secret with only the entries one container needs:
     (dict "ctx" $ "keys" (list "redis-gateway" "internal-token")). Group
     readable (the pods' fsGroup), nobody else. */}}
{{- define "owx.secretVolume" -}}
- name: secrets
  secret:
    secretName: {{ include "owx.secretName" .ctx }}
    # 0440: the owner (root) and the pod's fsGroup read
    defaultMode: 288
    items:
      {{- range .keys }}
      - {key: {{ . }}, path: {{ . }}}
      {{- end }}
{{- end -}}

{{/* The pod securityContext of the owx images (user owx, 10001): no root,
     the Secret's files group-readable, the runtime's default seccomp filter. */}}
{{- define "owx.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 10001 }}
runAsGroup: {{ .uid | default 10001 }}
fsGroup: {{ .uid | default 10001 }}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* The container securityContext: no privilege, no capability, nothing
     written outside its volumes. */}}
{{- define "owx.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities: {drop: [ALL]}
seccompProfile: {type: RuntimeDefault}
{{- end -}}

{{/* checksum/secrets of a pod template: a changed credential rolls the pods
     (the daemons read their files at start), e.g. an upgrade after the
     Secret was deleted, or another existingSecret. */}}
{{- define "owx.secretsChecksum" -}}
{{- printf "%s|%s" (include "owx.secretName" .) (include (print .Template.BasePath "/secrets.yaml") .) | sha256sum -}}
{{- end -}}

{{/* The Redis ACL rules of each user (its users.acl line after the
     password; templates/redis.yaml): the admin (ow-admin) everything; the
     gateway and the pool-manager owx's keys and channels, nothing
     @dangerous (KEYS, CONFIG, FLUSHALL, MONITOR, DEBUG, ...); the sidecar,
     inside every action pod, what ow-sidecar sends and no more: HMGET of
     action and package entities, GET of the namespace's limits (a
     streaming web action's maxStreamBytes), HGET of the pieces
     of an action's big code (modules/engine/ow_code.h), and the
     activation record's EVAL (libow/activation_store, OW_LUA_WRITE_ACTIVATION:
     the record and its two indexes; a script's calls are checked too; EVAL
     declares its keys read-write, so the records' keys are not write-only);
     and the WebSocket connections it holds (sidecar/connection_registry.h:
     scripts that count, add, refresh and drop them, and add the messages
     run to the namespace's per-minute counter). */}}
{{- define "owx.redisAclRules" -}}
admin: "~* &* +@all"
gateway: "~owx:* &owx:* +@all -@dangerous"
pool-manager: "~owx:* &owx:* +@all -@dangerous"
sidecar: "resetchannels -@all +hmget +hget +get +eval +evalsha +script|load +time +zremrangebyscore +set +zadd +pttl +pexpireat +zcard +zrem +del +incrby +expire %R~owx:{*}:e:* %R~owx:{*}:code:* %R~owx:{*}:limits ~owx:{*}:a:* ~owx:{*}:ai ~owx:{*}:ai:* ~owx:{*}:connections ~owx:{*}:conn:* ~owx:{*}:rate:*"
{{- end -}}
