#!/usr/bin/env bash
# Benchmark: `gymops fleet health` across 20 sites against `gymops health` on one of them
# (`--site gym-1`: the same kind of endpoints), in one hyperfine run; then the same fleet with one more site that accepts connections and
# never answers. Each site has its own endpoints: its own Docker endpoint (a socat TCP
# forward to the engine), its own backend and MinIO stand-ins (processes on their own
# ports, the backend's db health querying the stack's PostgreSQL over a pooled connection,
# as Spring's does); the containers checked are the stack's (bench/health/docker-compose.yml).
# Every site's servers (the engine, socat, PostgreSQL, the stand-ins) run on this machine,
# so the fleet's wall time includes their CPU for 20 sites; gymops' own CPU is reported
# apart (user + system of the gymops process).
#   bench/fleet/run.sh        (RUNS=10, SITES=20; needs docker, docker-compose, socat, hyperfine)
# Targets (issue 21): fleet health of 20 sites <= 2x one site's health; the hung site adds
# at most its timeout (health.timeout, 2s here).
set -euo pipefail
runs=${RUNS:-10}
sites=${SITES:-20}
command -v socat >/dev/null || { echo "missing socat (apt-get install socat)" >&2; exit 1; }
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
port=21000
site_yaml=""
for n in $(seq 1 "$sites"); do
  docker_port=$((port++)); backend_port=$((port++)); minio_port=$((port++)); console_port=$((port++))
  socat "TCP-LISTEN:$docker_port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$socket" &
  pids+=($!)
  STANDIN_DB_PASSWORD="$POSTGRES_PASSWORD" "$STANDIN" backend --listen "127.0.0.1:$backend_port" \
    --db-host 127.0.0.1 --db-port 5432 --db-user postgres --db-name fitness_gym >/dev/null 2>&1 &
  pids+=($!)
  "$STANDIN" minio --listen "127.0.0.1:$minio_port" --console "127.0.0.1:$console_port" >/dev/null 2>&1 &
  pids+=($!)
  site_yaml+="  gym-$n:
    docker: {host: \"tcp://127.0.0.1:$docker_port\"}
    backend: {url: \"http://127.0.0.1:$backend_port/springboot1ngh61a2\"}
    minio: {url: \"http://127.0.0.1:$minio_port\", console_url: \"http://127.0.0.1:$console_port\"}
"
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
"$gymops" fleet health | tail -n 1

echo "== one site vs $sites sites: $runs runs each =="
hyperfine -N --warmup 2 --runs "$runs" --export-json fleet.json \
  --command-name "gymops health" "$gymops --site gym-1 health" \
  --command-name "gymops fleet health ($sites sites)" "$gymops fleet health"

printf 'health:\n  timeout: 2s\nfleet:\n  parallel: %s\nsites:\n%s%s' "$((sites + 1))" "$site_yaml" "$hung_yaml" >gymops.yaml
"$gymops" fleet health | tail -n 1 || true
echo "== with one hung site: $runs runs =="
hyperfine -N --runs "$runs" -i --export-json hung.json \
  --command-name "gymops fleet health ($sites + 1 hung)" "$gymops fleet health"

python3 - "$sites" <<'PY'
import json, statistics, sys
sites = sys.argv[1]
def medians(path):
    return {r["command"]: statistics.median(r["times"]) for r in json.load(open(path))["results"]}
f = medians("fleet.json"); h = medians("hung.json")
one = f["gymops health"]; fleet = f[f"gymops fleet health ({sites} sites)"]
hung = h[f"gymops fleet health ({sites} + 1 hung)"]
print("\n== summary (median wall time) ==")
print(f"gymops health (1 site) {one*1000:.0f} ms; gymops fleet health ({sites} sites) {fleet*1000:.0f} ms; "
      f"fleet/one = {fleet/one:.2f} (target <= 2.00)")
print(f"with a hung site: {hung*1000:.0f} ms, {1000*(hung-fleet):.0f} ms more (target <= 2000 ms: its timeout)")
def cpu(path, name):
    r = [r for r in json.load(open(path))["results"] if r["command"] == name][0]
    return (r["user"] + r["system"]) * 1000
one_cpu = cpu("fleet.json", "gymops health"); fleet_cpu = cpu("fleet.json", f"gymops fleet health ({sites} sites)")
print(f"gymops' own CPU (user+system): one site {one_cpu:.0f} ms, {sites} sites {fleet_cpu:.0f} ms "
      f"({fleet_cpu/int(sites):.1f} ms a site)")
PY
