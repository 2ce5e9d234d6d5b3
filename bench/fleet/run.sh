#!/usr/bin/env bash
# Benchmark: `gymops fleet health` across 20 sites against `gymops health` on one of them
# (`--site gym-1`: the same kind of endpoints), in one hyperfine run; then the same pair
# with the sites' endpoints LATENCY_MS away (default 10 ms each way, a 20 ms round trip:
# branch sites reached over the WAN; the forwards delay each way, and a connection opens a
# round trip late); then the fleet with one more site that accepts connections and never
# answers. Each site has its own endpoints, each a TCP forward (standin forward, one
# process a site): its Docker endpoint (to the engine), its PostgreSQL endpoint (to the
# stack's), its own backend and MinIO stand-ins (processes on their own ports, the backend's db health querying the stack's
# PostgreSQL over a pooled connection, as Spring's does); the containers checked are the
# stack's (bench/health/docker-compose.yml). Every site's servers (the engine, PostgreSQL,
# the stand-ins) run on this machine, so the fleet's wall time includes their CPU for 20
# sites; gymops' own CPU is reported apart (user + system of the gymops process).
#   bench/fleet/run.sh        (RUNS=10, SITES=20, LATENCY_MS=10 (0: skip that pair);
#                              needs docker, docker-compose, hyperfine)
# Targets (issue 21): fleet health of 20 sites <= 2x one site's health; the hung site adds
# at most its timeout (health.timeout, 2s here).
set -euo pipefail
runs=${RUNS:-10}
sites=${SITES:-20}
latency_ms=${LATENCY_MS:-10}
# shellcheck source=../stack.sh
source "$(dirname "$0")/../stack.sh"
stack_up
pids=()
cleanup_fleet() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  stack_down
}
trap cleanup_fleet EXIT
cd "$stack_dir"
socket=/var/run/docker.sock
[[ "${DOCKER_HOST:-}" == unix://* ]] && socket=${DOCKER_HOST#unix://}
port=20480
site_yaml=""
far_yaml=""
for n in $(seq 1 "$sites"); do
  backend_port=$((port++)); minio_port=$((port++)); console_port=$((port++))
  STANDIN_DB_PASSWORD="$POSTGRES_PASSWORD" "$STANDIN" backend --listen "127.0.0.1:$backend_port" \
    --db-host 127.0.0.1 --db-port 5432 --db-user postgres --db-name fitness_gym >/dev/null 2>&1 &
  pids+=($!)
  "$STANDIN" minio --listen "127.0.0.1:$minio_port" --console "127.0.0.1:$console_port" >/dev/null 2>&1 &
  pids+=($!)
  # The site's endpoints: on loopback, and LATENCY_MS away.
  for where in near far; do
    delay=0; [[ $where == far ]] && delay=$latency_ms
    e_docker=$((port++)); e_pg=$((port++)); e_backend=$((port++)); e_minio=$((port++)); e_console=$((port++))
    "$STANDIN" forward --delay-ms "$delay" "127.0.0.1:$e_docker=unix:$socket" \
      "127.0.0.1:$e_pg=127.0.0.1:5432" "127.0.0.1:$e_backend=127.0.0.1:$backend_port" \
      "127.0.0.1:$e_minio=127.0.0.1:$minio_port" "127.0.0.1:$e_console=127.0.0.1:$console_port" &
    pids+=($!)
    entry="  gym-$n:
    docker: {host: \"tcp://127.0.0.1:$e_docker\"}
    backend: {url: \"http://127.0.0.1:$e_backend/springboot1ngh61a2\"}
    postgres: {port: $e_pg}
    minio: {url: \"http://127.0.0.1:$e_minio\", console_url: \"http://127.0.0.1:$e_console\"}
"
    if [[ $where == near ]]; then site_yaml+="$entry"; else far_yaml+="$entry"; fi
  done
done
# A site that accepts connections and never answers: engine, backend, database, MinIO.
hung_port=$((port++))
python3 - "$hung_port" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
held = []
while True:
    held.append(s.accept()[0])
PY
pids+=($!)
hung_yaml="  hung:
    docker: {host: \"tcp://127.0.0.1:$hung_port\"}
    backend: {url: \"http://127.0.0.1:$hung_port/springboot1ngh61a2\"}
    postgres: {port: $hung_port}
    minio: {url: \"http://127.0.0.1:$hung_port\", console_url: \"http://127.0.0.1:$hung_port\"}
"
printf 'health:\n  timeout: 2s\nfleet:\n  parallel: %s\nsites:\n%s' "$sites" "$site_yaml" >gymops.yaml
sleep 1
"$gymops" fleet health | tail -n 1 || true  # a first round: the stand-ins open their pools

echo "== one site vs $sites sites: $runs runs each =="
hyperfine -N --warmup 2 --runs "$runs" --export-json fleet.json \
  --command-name "gymops health" "$gymops --site gym-1 health" \
  --command-name "gymops fleet health ($sites sites)" "$gymops fleet health"

if [[ "$latency_ms" != 0 ]]; then
  printf 'health:\n  timeout: 2s\nfleet:\n  parallel: %s\nsites:\n%s' "$sites" "$far_yaml" >gymops.yaml
  "$gymops" fleet health | tail -n 1 || true
  echo "== the sites ${latency_ms} ms away (each way): one site vs $sites sites: $runs runs each =="
  hyperfine -N --warmup 2 --runs "$runs" --export-json latency.json \
    --command-name "gymops health" "$gymops --site gym-1 health" \
    --command-name "gymops fleet health ($sites sites)" "$gymops fleet health"
fi

printf 'health:\n  timeout: 2s\nfleet:\n  parallel: %s\nsites:\n%s%s' "$((sites + 1))" "$site_yaml" "$hung_yaml" >gymops.yaml
"$gymops" fleet health | tail -n 1 || true
echo "== with one hung site: $runs runs =="
hyperfine -N --runs "$runs" -i --export-json hung.json \
  --command-name "gymops fleet health ($sites + 1 hung)" "$gymops fleet health"

python3 - "$sites" "$latency_ms" <<'PY'
import json, os, statistics, sys
sites, latency = sys.argv[1], sys.argv[2]
def results(path):
    return {r["command"]: r for r in json.load(open(path))["results"]}
def median(r):
    return statistics.median(r["times"])
def cpu(r):
    return (r["user"] + r["system"]) * 1000
print("\n== summary (median wall time) ==")
pairs = [("on loopback", "fleet.json")]
if latency != "0" and os.path.exists("latency.json"):
    pairs.append((f"sites {latency} ms away each way", "latency.json"))
for label, path in pairs:
    r = results(path)
    one, fleet = r["gymops health"], r[f"gymops fleet health ({sites} sites)"]
    print(f"{label}: gymops health (1 site) {median(one)*1000:.0f} ms; gymops fleet health ({sites} sites) "
          f"{median(fleet)*1000:.0f} ms; fleet/one = {median(fleet)/median(one):.2f} (target <= 2.00); "
          f"gymops' own CPU (user+system): one site {cpu(one):.0f} ms, {sites} sites {cpu(fleet):.0f} ms "
          f"({cpu(fleet)/int(sites):.1f} ms a site)")
fleet = median(results("fleet.json")[f"gymops fleet health ({sites} sites)"])
hung = median(results("hung.json")[f"gymops fleet health ({sites} + 1 hung)"])
print(f"with a hung site: {hung*1000:.0f} ms, {1000*(hung-fleet):.0f} ms more (target <= 2000 ms: its timeout)")
PY
