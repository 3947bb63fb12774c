#!/usr/bin/env bash
# /v1/exec on the Kubernetes backend, on the test cluster (scripts/kube-up: pods are containers of
# the built images on this machine, so a real cluster's pod starts are slower): py print(1), paced
# (1 request/s, 30 s) and back to back with 1, 4 and 8 clients for 60 s each, in these setups:
#   fixed    one pod per run, a fixed pool of 3 py pods (what the API did before issue 12)
#   demand   one pod per run, the pool follows demand (POD_POOL_FOLLOW_DEMAND, the new default)
#   session  a pod serves the runs of one session (K8S_POD_REUSE=session), the pool follows demand;
#            each client keeps one session, like a conversation
# Each setup starts its own API; the machine's load average is recorded before each scenario.
#   bench/kubernetes.sh                          all setups
#   BENCH_SETUPS="fixed session" bench/kubernetes.sh
#   BENCH_QUICK=1 bench/kubernetes.sh            10 s scenarios, for a smoke test
source "$(dirname "$0")/../scripts/lib/common.sh"
cd "$KCR_ROOT"
select_jdk
K6="${K6:-$(command -v k6 || echo "$KCR_TOOLS_DIR/bin/k6")}"
[ -x "$K6" ] || die "no k6 (scripts/bench installs it)"
build_is_current || "$KCR_ROOT/scripts/build"
"$KCR_ROOT/scripts/build-images" --debootstrap --rootfs "$KCR_ROOT/target/images" python >/dev/null

long=60s; paced=30s
if [ -n "${BENCH_QUICK:-}" ]; then long=10s; paced=10s; fi
out="$KCR_ROOT/bench/results/k8s-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$out"
state="$(mktemp -d /tmp/kcr-bench-kube-XXXXXX)"
api_pid=""
cleanup() {
  [ -z "$api_pid" ] || { kill "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null; }
  KCR_KUBE_STATE="$state" "$KCR_ROOT/scripts/kube-down" >/dev/null 2>&1
}
trap cleanup EXIT
kubeconfig="$(KCR_KUBE_STATE="$state" KCR_IMAGE_ROOTFS="$KCR_ROOT/target/images" "$KCR_ROOT/scripts/kube-up")"
source "$state/env"
kapi() { curl -sf --cacert "$KCR_KUBE_CA_FILE" -H "Authorization: Bearer $(cat "$KCR_KUBE_TOKEN_FILE")" "$@"; }

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
key="bench-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"

start_api() { # setup
  local setup="$1" ns="kcr-bench-$1" port
  kapi -X POST "$KCR_KUBE_SERVER/api/v1/namespaces" -H 'Content-Type: application/json' \
    -d "{\"metadata\":{\"name\":\"$ns\"}}" >/dev/null || true
  port="$(free_port)"
  base="http://127.0.0.1:$port"
  local extra=(POD_POOL_FOLLOW_DEMAND=true K8S_POD_REUSE=none)
  case "$setup" in
    fixed) extra=(POD_POOL_FOLLOW_DEMAND=false K8S_POD_REUSE=none) ;;
    session) extra=(POD_POOL_FOLLOW_DEMAND=true K8S_POD_REUSE=session) ;;
  esac
  env -i PATH="$PATH" API_KEY="$key" API_HOST=127.0.0.1 API_PORT="$port" DATA_DIR="$(mktemp -d)" \
    LOG_LEVEL=WARNING SANDBOX_BACKEND=kubernetes KUBECONFIG="$kubeconfig" K8S_NAMESPACE="$ns" \
    POD_NAMESPACE="$ns" POD_NAME="bench-$setup" POD_POOL_PY=3 POD_POOL_JS=0 K8S_MAX_PODS=30 \
    SANDBOX_START_TIMEOUT_SECONDS=90 "${extra[@]}" \
    "$JAVA_HOME/bin/java" -XX:+UseSerialGC -jar target/kubecoderun.jar > "$out/api-$setup.log" 2>&1 &
  api_pid=$!
  wait_pools
}

# Waits until the py pool has its configured 3 pods ready (and the demand of the last scenario has
# faded: the target is back to 3), so each scenario starts alike.
wait_pools() {
  for _ in $(seq 1 1500); do
    if curl -sf "$base/health/detailed?use_cache=false" -H "X-API-Key: $key" 2>/dev/null | python3 -c '
import json,sys
p=json.load(sys.stdin)["services"]["sandbox"]["details"]["pools"]["py"]
sys.exit(0 if p["ready"] >= 3 and p["target"] == 3 else 1)' 2>/dev/null; then return 0; fi
    sleep 0.2
  done
  die "the py pool did not settle at 3; see $out"
}

stop_api() {
  kill "$api_pid" 2>/dev/null; wait "$api_pid" 2>/dev/null || true; api_pid=""
}

run() { # setup name mode n duration
  local setup=$1 name=$2 mode=$3 n=$4 dur=$5 session=""
  [ "$setup" != session ] || session=vu
  wait_pools
  cut -d' ' -f1-3 /proc/loadavg > "$out/$setup-$name.load"
  log "$setup: $name (load $(cat "$out/$setup-$name.load"))"
  BASE="$base" KEY="$key" SCENARIO=py_print MODE="$mode" VUS="$n" RATE="$n" DURATION="$dur" \
    SESSION="$session" RUN="$setup-$name-$RANDOM" \
    "$K6" run --quiet --summary-export "$out/$setup-$name.json" bench/k6/exec.js > "$out/$setup-$name.txt" 2>&1 \
    || log "k6 reported failed checks for $setup $name"
}

for setup in ${BENCH_SETUPS:-fixed demand session}; do
  log "setup $setup"
  start_api "$setup"
  run "$setup" paced paced 1 "$paced"
  run "$setup" c1 closed 1 "$long"
  run "$setup" c4 closed 4 "$long"
  run "$setup" c8 closed 8 "$long"
  stop_api
done

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
lines = ["| setup | scenario | p50 ms | p95 ms | p99 ms | requests | req/s | failed | load before |",
         "|---|---|---|---|---|---|---|---|---|"]
for setup in ["fixed", "demand", "session"]:
    for name in ["paced", "c1", "c4", "c8"]:
        p = os.path.join(out, f"{setup}-{name}.json")
        if not os.path.exists(p):
            continue
        m = json.load(open(p))["metrics"]
        d, reqs = m["http_req_duration"], m["http_reqs"]
        fails = m.get("checks", {}).get("fails", 0)
        load = open(os.path.join(out, f"{setup}-{name}.load")).read().strip()
        lines.append(f"| {setup} | {name} | {d['med']:.0f} | {d['p(95)']:.0f} | {d['p(99)']:.0f} | "
                     f"{reqs['count']} | {reqs['rate']:.2f} | {fails} | {load} |")
table = "\n".join(lines)
open(os.path.join(out, "summary.md"), "w").write(table + "\n")
print(table)
PY
log "results in $out"
