#!/usr/bin/env bash
# Download throughput and the API's memory while it serves several large downloads at once.
# Starts its own API (and, for BENCH_STORE=s3, its own redis-server and S3Proxy like the tests do),
# uploads one file, then runs BENCH_ROUNDS rounds of BENCH_PARALLEL concurrent curl downloads of it,
# sampling the API's RSS and heap every 100 ms. Prints one line per round and a summary.
#   bench/downloads.sh                          embedded store (local disk)
#   BENCH_STORE=s3 bench/downloads.sh           Redis + S3Proxy
#   BENCH_HEAP=64m bench/downloads.sh           the API with -Xmx64m (streaming, not buffering)
#   BENCH_SIZE_MB=100 BENCH_PARALLEL=4 BENCH_ROUNDS=3 (the defaults)
source "$(dirname "$0")/../scripts/lib/common.sh"
cd "$KCR_ROOT"
select_jdk
build_is_current || "$KCR_ROOT/scripts/build"

store="${BENCH_STORE:-disk}"
size_mb="${BENCH_SIZE_MB:-100}"
parallel="${BENCH_PARALLEL:-4}"
rounds="${BENCH_ROUNDS:-3}"
heap="${BENCH_HEAP:-}"

work="$(mktemp -d /tmp/kcr-bench-dl-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
await_port() { for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; die "nothing listens on $1"; }

env_extra=()
if [ "$store" = s3 ]; then
  rport="$(free_port)"; sport="$(free_port)"
  redis-server --port "$rport" --bind 127.0.0.1 --dir "$work" --save '' --appendonly no >"$work/redis.log" 2>&1 &
  pids+=($!)
  mkdir -p "$work/s3"
  cat >"$work/s3proxy.conf" <<EOF
s3proxy.endpoint=http://127.0.0.1:$sport
s3proxy.authorization=aws-v2-or-v4
s3proxy.identity=bench-access
s3proxy.credential=bench-secret-key
jclouds.provider=filesystem-nio2
jclouds.identity=bench-access
jclouds.credential=bench-secret-key
jclouds.filesystem.basedir=$work/s3
EOF
  [ -f target/s3proxy/s3proxy.jar ] || mvn_run -q dependency:copy@s3proxy-for-tests
  "$JAVA_HOME/bin/java" -Xmx256m -jar target/s3proxy/s3proxy.jar --properties "$work/s3proxy.conf" >"$work/s3proxy.log" 2>&1 &
  pids+=($!)
  await_port "$rport"; await_port "$sport"
  env_extra=(REDIS_URL="redis://127.0.0.1:$rport" MINIO_ENDPOINT="http://127.0.0.1:$sport"
    MINIO_ACCESS_KEY=bench-access MINIO_SECRET_KEY=bench-secret-key MINIO_BUCKET=bench)
fi

port="$(free_port)"
key="bench-key-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
jvm=(-XX:+UseSerialGC -Xss512k) # as scripts/run and the image start it
[ -z "$heap" ] || jvm+=("-Xmx$heap")
env API_KEY="$key" API_HOST=127.0.0.1 API_PORT="$port" DATA_DIR="$work/data" RUNNER_BIN="$KCR_ROOT/target/runner" \
  LOG_LEVEL=WARNING POD_POOL_PY=0 POD_POOL_JS=0 MAX_FILE_SIZE_MB="$size_mb" "${env_extra[@]}" \
  "$JAVA_HOME/bin/java" "${jvm[@]}" -jar "$KCR_JAR" >"$work/api.log" 2>&1 &
api=$!
pids+=("$api")
await_port "$port"
base="http://127.0.0.1:$port"

head -c "$((size_mb * 1024 * 1024))" /dev/urandom >"$work/file.bin"
want="$(sha256sum "$work/file.bin" | cut -d' ' -f1)"
up="$(curl -sf "$base/upload" -H "X-API-Key: $key" -F "file=@$work/file.bin")" || die "upload failed"
path="$(python3 -c 'import json,sys; r=json.load(sys.stdin); print("/download/%s/%s" % (r["session_id"], r["files"][0]["fileId"]))' <<<"$up")"
got="$(curl -sf "$base$path" -H "X-API-Key: $key" | sha256sum | cut -d' ' -f1)"
[ "$got" = "$want" ] || die "the file did not come back whole"
rm -f "$work/file.bin"

# RSS (KiB) of the API every 50 ms, and its heap used (KiB) as often as jstat answers, until the
# file named by $1 exists.
sample() {
  local stop=$1 out=$2
  while [ ! -e "$stop" ]; do
    awk '/^VmRSS/ {print "rss", $2}' "/proc/$api/status" >>"$out"
    sleep 0.05
  done &
  while [ ! -e "$stop" ]; do
    jstat -gc "$api" 2>/dev/null | awk 'NR==2 {printf "heap %d\n", $3+$4+$6+$8}' >>"$out"
  done
  wait
}

rss_idle="$(awk '/^VmRSS/ {print $2}' "/proc/$api/status")"
gcs() { jstat -gc "$api" | awk 'NR==2 {print $13 + $15}'; }
gcs_before="$(gcs)"
printf 'store=%s size=%s MiB parallel=%s heap=%s jdk=%s\n' "$store" "$size_mb" "$parallel" "${heap:-default}" \
  "$("$JAVA_HOME/bin/java" -version 2>&1 | head -1)"
printf 'API RSS before the downloads: %d MiB\n' "$((rss_idle / 1024))"
total_mib=0; total_s=0
for r in $(seq 1 "$rounds"); do
  rm -f "$work/stop" "$work/mem"
  sample "$work/stop" "$work/mem" &
  sampler=$!
  start=$(date +%s.%N)
  clients=()
  for i in $(seq 1 "$parallel"); do
    curl -s -o /dev/null -w '%{size_download} %{speed_download}\n' "$base$path" -H "X-API-Key: $key" >"$work/c$i" &
    clients+=($!)
  done
  wait "${clients[@]}"
  end=$(date +%s.%N)
  touch "$work/stop"; wait "$sampler"
  for i in $(seq 1 "$parallel"); do
    read -r bytes _ <"$work/c$i"
    [ "$bytes" = "$((size_mb * 1024 * 1024))" ] || die "download $i of round $r got $bytes bytes"
  done
  per="$(cat "$work"/c* | awk '{printf "%.0f ", $2/1048576}')"
  secs="$(echo "$end - $start" | bc)"
  agg="$(echo "scale=1; $parallel * $size_mb / $secs" | bc)"
  rss="$(awk '$1 == "rss" {if ($2 > m) m = $2; n++} END {printf "%d MiB (%d samples)", m / 1024, n}' "$work/mem")"
  heapmax="$(awk '$1 == "heap" {if ($2 > m) m = $2; n++} END {printf "%d MiB (%d samples)", m / 1024, n}' "$work/mem")"
  printf 'round %d: %s MiB in %.2f s = %s MiB/s aggregate (per download MiB/s: %s); peak RSS %s, peak heap used %s\n' \
    "$r" "$((parallel * size_mb))" "$secs" "$agg" "$per" "$rss" "$heapmax"
  total_mib=$((total_mib + parallel * size_mb)); total_s="$(echo "$total_s + $secs" | bc)"
done
printf 'overall: %s MiB/s aggregate over %d rounds; %d garbage collections during them\n' \
  "$(echo "scale=1; $total_mib / $total_s" | bc)" "$rounds" "$(( $(gcs) - gcs_before ))"
jcmd "$api" GC.run >/dev/null 2>&1 || true
printf 'API after the downloads and a full GC: heap used %d MiB, RSS %d MiB\n' \
  "$(( $(jstat -gc "$api" | awk 'NR==2 {printf "%d", $3+$4+$6+$8}') / 1024 ))" \
  "$(( $(awk '/^VmRSS/ {print $2}' "/proc/$api/status") / 1024 ))"
