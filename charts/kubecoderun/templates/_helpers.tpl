{{/* Names and labels. */}}
{{- define "kubecoderun.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kubecoderun.fullname" -}}
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

{{- define "kubecoderun.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "kubecoderun.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* The API pods (Service, PodDisruptionBudget and NetworkPolicy selectors). */}}
{{- define "kubecoderun.apiSelectorLabels" -}}
app.kubernetes.io/name: {{ include "kubecoderun.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: api
{{- end -}}

{{/* The sandbox pods: the API labels every pod and Job pod it creates so (sandbox/kubernetes/PodSpecs.java). */}}
{{- define "kubecoderun.sandboxLabels" -}}
app.kubernetes.io/managed-by: kubecoderun
{{- end -}}

{{/* Where the sandboxes run: a namespace of their own (sandbox.namespace.separate, the default), named
     sandbox.namespace.name or "<release namespace>-sandboxes"; else the release namespace. */}}
{{- define "kubecoderun.sandboxNamespace" -}}
{{- if .Values.sandbox.namespace.separate -}}
{{- .Values.sandbox.namespace.name | default (printf "%s-sandboxes" (.Release.Namespace | default "default")) | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- .Release.Namespace -}}
{{- end -}}
{{- end -}}

{{/* The language codes of the API (execution/Language.java), for POD_POOL_<LANG> and LANG_*_<LANG>. */}}
{{- define "kubecoderun.languages" -}}
py js ts go java c cpp php rs r f90 d bash
{{- end -}}

{{- define "kubecoderun.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kubecoderun.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* A value kept in the release's Secret under a key (args: list . "KEY"): the one already there (so
     an upgrade keeps it), else a new random one of 40 characters. `lookup` finds nothing under
     `helm template` (Argo CD included): there it is new on every render, so give such values
     explicitly (a value or an existing Secret). */}}
{{- define "kubecoderun.kept" -}}
{{- $ctx := index . 0 -}}
{{- $key := index . 1 -}}
{{- $secret := lookup "v1" "Secret" $ctx.Release.Namespace (include "kubecoderun.fullname" $ctx) -}}
{{- if and $secret $secret.data (hasKey $secret.data $key) -}}
{{- index $secret.data $key | b64dec -}}
{{- else -}}
{{- randAlphaNum 40 -}}
{{- end -}}
{{- end -}}

{{/* The API key: given, else the one kept in the release's Secret, else a new random one. */}}
{{- define "kubecoderun.apiKey" -}}
{{- if .Values.apiKey.value -}}
{{- if lt (len .Values.apiKey.value) 16 -}}
{{- fail "apiKey.value must be at least 16 characters" -}}
{{- end -}}
{{- .Values.apiKey.value -}}
{{- else -}}
{{- include "kubecoderun.kept" (list . "API_KEY") -}}
{{- end -}}
{{- end -}}

{{/* The metrics token (METRICS_TOKEN): given, else kept, else generated, like the API key. */}}
{{- define "kubecoderun.metricsToken" -}}
{{- .Values.metrics.token.value | default (include "kubecoderun.kept" (list . "METRICS_TOKEN")) -}}
{{- end -}}

{{/* The Secret and key holding METRICS_TOKEN: what the API reads and the monitors send. */}}
{{- define "kubecoderun.metricsTokenSecret" -}}
{{- .Values.metrics.token.existingSecret | default (include "kubecoderun.fullname" .) -}}
{{- end -}}
{{- define "kubecoderun.metricsTokenSecretKey" -}}
{{- ternary .Values.metrics.token.existingSecretKey "METRICS_TOKEN" (not (empty .Values.metrics.token.existingSecret)) -}}
{{- end -}}

{{/* The secret values given in the chart's values: they reach the pods only through the Secret, so
     the pod template carries a checksum of them (checksum/secret) to roll the pods when one changes.
     That annotation is readable by whoever may read pods or Deployments (the `view` role, which may
     not read Secrets), and a plain hash of the values would let them test guesses of a weak password
     offline: it is salted with CHECKSUM_SALT, random, kept in the chart's Secret (`lookup`). Worked
     out once per render (the Secret and the Deployment must use the same salt). With no secret value
     in the values there is nothing to hide and no salt, so a render without `lookup` (helm
     template) then gives the same annotation every time. */}}
{{- define "kubecoderun.checksumSalt" -}}
{{- if not (hasKey .Values "_checksumSalt") -}}
{{- $_ := set .Values "_checksumSalt" (include "kubecoderun.kept" (list . "CHECKSUM_SALT")) -}}
{{- end -}}
{{- index .Values "_checksumSalt" -}}
{{- end -}}
{{- define "kubecoderun.secretValues" -}}
{{- list .Values.apiKey.value .Values.redis.password .Values.minio.accessKey .Values.minio.secretKey .Values.masterKey.value .Values.metrics.token.value | toJson -}}
{{- end -}}
{{- define "kubecoderun.secretChecksum" -}}
{{- $values := include "kubecoderun.secretValues" . -}}
{{- if eq $values (list "" "" "" "" "" "" | toJson) -}}
{{- $values | sha256sum -}}
{{- else -}}
{{- printf "%s\n%s" (include "kubecoderun.checksumSalt" .) $values | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* What goes into the chart's own Secret (empty when everything comes from existing Secrets). */}}
{{- define "kubecoderun.secretData" -}}
{{- if not .Values.apiKey.existingSecret }}
API_KEY: {{ include "kubecoderun.apiKey" . | b64enc | quote }}
{{- end }}
{{- if and .Values.redis.enabled .Values.redis.password (not .Values.redis.existingSecret) }}
REDIS_PASSWORD: {{ .Values.redis.password | b64enc | quote }}
{{- end }}
{{- if and .Values.masterKey.value (not .Values.masterKey.existingSecret) }}
MASTER_API_KEY: {{ .Values.masterKey.value | b64enc | quote }}
{{- end }}
{{- if and .Values.minio.enabled (not .Values.minio.useIAM) (not .Values.minio.existingSecret) }}
MINIO_ACCESS_KEY: {{ .Values.minio.accessKey | b64enc | quote }}
MINIO_SECRET_KEY: {{ .Values.minio.secretKey | b64enc | quote }}
{{- end }}
{{- if not .Values.metrics.token.existingSecret }}
METRICS_TOKEN: {{ include "kubecoderun.metricsToken" . | b64enc | quote }}
{{- end }}
CHECKSUM_SALT: {{ include "kubecoderun.checksumSalt" . | b64enc | quote }}
{{- end -}}

{{/* Checks that fail the install with a message instead of deploying something that cannot work. */}}
{{- define "kubecoderun.validate" -}}
{{- if and (gt (int .Values.replicaCount) 1) (not (and .Values.redis.enabled .Values.minio.enabled)) -}}
{{- fail "replicaCount > 1 needs redis.enabled and minio.enabled: the embedded stores live inside one pod" -}}
{{- end -}}
{{- if and .Values.masterKey.value (lt (len .Values.masterKey.value) 32) -}}
{{- fail "masterKey.value must be at least 32 characters" -}}
{{- end -}}
{{- if and .Values.masterKey.value (not (regexMatch "^[ -~]+$" .Values.masterKey.value)) -}}
{{- fail "masterKey.value must be printable ASCII (it is sent in an HTTP header)" -}}
{{- end -}}
{{- with .Values.metrics.token.value -}}
{{- if lt (len .) 32 -}}
{{- fail "metrics.token.value must be at least 32 characters" -}}
{{- end -}}
{{- if or (eq . $.Values.masterKey.value) (eq . $.Values.apiKey.value) -}}
{{- fail "metrics.token.value must differ from masterKey.value and apiKey.value (it is what Prometheus holds)" -}}
{{- end -}}
{{- end -}}
{{- if and .Values.redis.enabled (not .Values.redis.url) -}}
{{- fail "redis.enabled needs redis.url (redis://host:6379/0)" -}}
{{- end -}}
{{- if .Values.minio.enabled -}}
{{- if not .Values.minio.endpoint -}}
{{- fail "minio.enabled needs minio.endpoint" -}}
{{- end -}}
{{- if not (or .Values.minio.useIAM .Values.minio.existingSecret (and .Values.minio.accessKey .Values.minio.secretKey)) -}}
{{- fail "minio.enabled needs minio.accessKey and minio.secretKey, minio.existingSecret, or minio.useIAM" -}}
{{- end -}}
{{- end -}}
{{- /* The ConfigMap is readable by whoever may read ConfigMaps (the `view` role, which may not read
     Secrets): a credential given through config (or a Redis URL carrying its password) would be
     there in clear. They have values of their own, kept in a Secret, or extraEnv's secretKeyRef. */ -}}
{{- $credentials := list "API_KEY" "API_KEYS" "MASTER_API_KEY" "METRICS_TOKEN" "REDIS_PASSWORD" "REDIS_SENTINEL_PASSWORD" "MINIO_ACCESS_KEY" "MINIO_SECRET_KEY" "AWS_ACCESS_KEY_ID" "AWS_SECRET_ACCESS_KEY" "AWS_SESSION_TOKEN" -}}
{{- range $k, $v := .Values.config -}}
{{- if and $v (has $k $credentials) -}}
{{- fail (printf "config.%s is a credential: the ConfigMap holds it in clear for whoever may read ConfigMaps; use the chart's value for it (apiKey, masterKey, metrics.token, redis.password, minio.accessKey/secretKey, or their existingSecret) or extraEnv with a secretKeyRef" $k) -}}
{{- end -}}
{{- end -}}
{{- /* The Deployment's spec is readable by the same `view` role, and so is any ConfigMap: an
     extraEnv credential takes valueFrom.secretKeyRef, never a plain value or a configMapKeyRef. */ -}}
{{- range .Values.extraEnv -}}
{{- if has .name $credentials -}}
{{- if .value -}}
{{- fail (printf "extraEnv %s is a credential with a plain value: the Deployment holds it in clear for whoever may read Deployments; give it valueFrom.secretKeyRef" .name) -}}
{{- end -}}
{{- if dig "valueFrom" "configMapKeyRef" "" . -}}
{{- fail (printf "extraEnv %s is a credential from a ConfigMap: it is there in clear for whoever may read ConfigMaps; give it valueFrom.secretKeyRef" .name) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- $urls := list .Values.redis.url (index .Values.config "REDIS_URL" | default "" | toString) -}}
{{- range .Values.extraEnv -}}
{{- if and .value (eq .name "REDIS_URL") -}}
{{- $urls = append $urls (toString .value) -}}
{{- end -}}
{{- end -}}
{{- range $url := $urls -}}
{{- /* user:password@, or password@ alone (the API reads a userinfo without ':' as the password);
     user:@ names a user only. */ -}}
{{- if regexMatch "^[a-zA-Z][a-zA-Z0-9+.-]*://([^/@:]+|[^/@]*:[^/@]+)@" $url -}}
{{- fail "the Redis URL (redis.url, config.REDIS_URL or an extraEnv REDIS_URL value) carries a password: it would be in the ConfigMap or the Deployment in clear; give the URL without it and the password as redis.password or redis.existingSecret" -}}
{{- end -}}
{{- end -}}
{{- $langs := splitList " " (include "kubecoderun.languages" .) -}}
{{- $pooled := 0 -}}
{{- range $lang, $size := .Values.sandbox.podPool -}}
{{- if not (has $lang $langs) -}}
{{- fail (printf "sandbox.podPool.%s: unknown language (known: %s)" $lang (join ", " $langs)) -}}
{{- end -}}
{{- if or (lt (int $size) 0) (gt (int $size) 100) -}}
{{- fail (printf "sandbox.podPool.%s must be 0-100" $lang) -}}
{{- end -}}
{{- $pooled = add $pooled $size -}}
{{- end -}}
{{- if gt (int $pooled) (int .Values.sandbox.maxPods) -}}
{{- fail (printf "the pools (sandbox.podPool: %d pods) do not fit in sandbox.maxPods (%d)" (int $pooled) (int .Values.sandbox.maxPods)) -}}
{{- end -}}
{{- if not (has .Values.sandbox.podReuse (list "none" "session")) -}}
{{- fail (printf "sandbox.podReuse must be none or session, not %v" .Values.sandbox.podReuse) -}}
{{- end -}}
{{- if not (has .Values.sandbox.apiAntiAffinity (list "preferred" "required" "off")) -}}
{{- fail (printf "sandbox.apiAntiAffinity must be preferred, required or off, not %v" .Values.sandbox.apiAntiAffinity) -}}
{{- end -}}
{{- if not (has .Values.sandbox.userNamespaces (list "auto" "on" "off")) -}}
{{- fail (printf "sandbox.userNamespaces must be auto, on or off, not %v" .Values.sandbox.userNamespaces) -}}
{{- end -}}
{{- $jwt := .Values.auth.jwt -}}
{{- $provider := .Values.auth.provider | default (index .Values.config "CODEAPI_AUTH_PROVIDER" | default "" | toString) -}}
{{- $authOff := eq (index .Values.config "AUTH_ENABLED" | default "true" | toString | lower) "false" -}}
{{- if and (has $provider (list "librechat-jwt" "both")) (not $authOff) (not (include "kubecoderun.jwtKeySet" .)) -}}
{{- fail (printf "auth.provider=%s needs LibreChat's public key: auth.jwt.publicKey, .publicKeyBase64, .jwks, .jwksFrom or .publicKeysFrom" $provider) -}}
{{- end -}}
{{- if and $jwt.jwksFrom.configMap $jwt.jwksFrom.secret -}}
{{- fail "auth.jwt.jwksFrom: configMap or secret, not both" -}}
{{- end -}}
{{- if and $jwt.publicKeysFrom.configMap $jwt.publicKeysFrom.secret -}}
{{- fail "auth.jwt.publicKeysFrom: configMap or secret, not both" -}}
{{- end -}}
{{- /* The inline keys land in a ConfigMap: a private key pasted there by mistake must not. */ -}}
{{- if or (contains "PRIVATE KEY" $jwt.publicKey) (contains "PRIVATE KEY" (b64dec $jwt.publicKeyBase64)) -}}
{{- fail "auth.jwt.publicKey / publicKeyBase64 hold a PRIVATE key: give the API LibreChat's public key only (it goes into a ConfigMap)" -}}
{{- end -}}
{{- with $jwt.publicKey -}}
{{- if not (or (contains "-----BEGIN PUBLIC KEY-----" .) (hasPrefix "{" (trim .))) -}}
{{- fail "auth.jwt.publicKey must be a PEM public key (-----BEGIN PUBLIC KEY-----) or a public JWK; a base64 one goes in auth.jwt.publicKeyBase64" -}}
{{- end -}}
{{- end -}}
{{- range $key := concat (keys .Values.sandbox.langImage) (keys .Values.sandbox.langLimits) -}}
{{- if not (has $key $langs) -}}
{{- fail (printf "sandbox.langImage / sandbox.langLimits: unknown language %s (known: %s)" $key (join ", " $langs)) -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Non-empty when a master key is configured (a value or an existing Secret). */}}
{{- define "kubecoderun.masterKeySet" -}}
{{- if or .Values.masterKey.value .Values.masterKey.existingSecret }}yes{{ end -}}
{{- end -}}

{{/* The Secret and key holding MASTER_API_KEY. */}}
{{- define "kubecoderun.masterKeySecret" -}}
{{- .Values.masterKey.existingSecret | default (include "kubecoderun.fullname" .) -}}
{{- end -}}
{{- define "kubecoderun.masterKeySecretKey" -}}
{{- ternary .Values.masterKey.existingSecretKey "MASTER_API_KEY" (not (empty .Values.masterKey.existingSecret)) -}}
{{- end -}}


{{/* The JWKS file (auth.jwt.jwksFrom) and the <kid>.pem directory (auth.jwt.publicKeysFrom): "configMap"
     or "secret" when one is given, and where they are mounted. */}}
{{- define "kubecoderun.jwksSource" -}}
{{- if .Values.auth.jwt.jwksFrom.configMap }}configMap{{ else if .Values.auth.jwt.jwksFrom.secret }}secret{{ end -}}
{{- end -}}
{{- define "kubecoderun.jwksDir" -}}/etc/kubecoderun/jwt-jwks{{- end -}}
{{- define "kubecoderun.publicKeysSource" -}}
{{- if .Values.auth.jwt.publicKeysFrom.configMap }}configMap{{ else if .Values.auth.jwt.publicKeysFrom.secret }}secret{{ end -}}
{{- end -}}
{{- define "kubecoderun.publicKeysDir" -}}/etc/kubecoderun/jwt-keys{{- end -}}

{{/* Non-empty when the API gets a JWT public key from the chart's values or from config / extraEnv. */}}
{{- define "kubecoderun.jwtKeySet" -}}
{{- $jwt := .Values.auth.jwt -}}
{{- $named := list -}}
{{- range .Values.extraEnv }}{{ $named = append $named .name }}{{ end -}}
{{- range $k, $v := .Values.config }}{{ if $v }}{{ $named = append $named $k }}{{ end }}{{ end -}}
{{- $vars := list "CODEAPI_JWT_PUBLIC_KEY" "CODEAPI_JWT_PUBLIC_KEY_BASE64" "CODEAPI_JWT_JWKS_JSON" "CODEAPI_JWT_JWKS_FILE" "CODEAPI_JWT_PUBLIC_KEYS_DIR" -}}
{{- if or $jwt.publicKey $jwt.publicKeyBase64 $jwt.jwks (include "kubecoderun.jwksSource" .) (include "kubecoderun.publicKeysSource" .) -}}
yes
{{- else -}}
{{- range $vars }}{{ if has . $named }}yes{{ end }}{{ end -}}
{{- end -}}
{{- end -}}
