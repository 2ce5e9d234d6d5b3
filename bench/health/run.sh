#!/usr/bin/env bash
# Benchmark: `gymops health` against the guide's health-check.sh (docker-compose ps + curl +
# docker-compose exec pg_isready) on the same healthy stack, in one run, then with PostgreSQL
# hung (paused). Run by hand; paste the summary into docs/benchmarks.md with date and machine.
#   bench/health/run.sh            (RUNS=15 by default; needs docker, docker-compose, curl, hyperfine)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
runs=${RUNS:-15}
image=gymops-test-rootfs:3

for tool in docker docker-compose curl hyperfine python3; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 1; }
done

(cd "$root" && cargo build --release --locked --bin gymops --example standin)
gymops="$root/target/release/gymops"

if ! docker image inspect "$image" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs"/{usr,etc,tmp,proc,sys,dev,run,var/tmp,var/run/postgresql,opt,data,app/logs}
  chmod 1777 "$rootfs"/{tmp,var/tmp,var/run/postgresql,data,app/logs}
  for link in bin:usr/bin lib:usr/lib lib64:usr/lib64 sbin:usr/sbin; do ln -s "${link#*:}" "$rootfs/${link%%:*}"; done
  tar -C "$rootfs" -cf - . | docker import --message "gymops test rig rootfs" - "$image" >/dev/null
  rm -rf "$rootfs"
fi

PG_UID="$(id -u postgres):$(id -g postgres)"
PGBIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)
PG_ENTRYPOINT="$root/tests/support/pg-entrypoint.sh"
STANDIN="$root/target/release/examples/standin"
POSTGRES_PASSWORD="bench-$RANDOM$RANDOM"
COMPOSE_PROJECT_NAME=fitness_gym
export PG_UID PGBIN PG_ENTRYPOINT STANDIN POSTGRES_PASSWORD COMPOSE_PROJECT_NAME
export GYMOPS_POSTGRES_PASSWORD="$POSTGRES_PASSWORD"

work=$(mktemp -d)
cp "$here/docker-compose.yml" "$here/health-check.sh" "$work/"
cd "$work"
cleanup() {
  docker unpause fitness_gym_postgres >/dev/null 2>&1 || true
  docker-compose down -v --timeout 1 >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

docker-compose up -d >/dev/null 2>&1
for _ in $(seq 1 90); do
  "$gymops" -q health >/dev/null 2>&1 && break
  sleep 1
done
"$gymops" health

echo "== healthy stack: $runs runs each =="
hyperfine -N --warmup 2 --runs "$runs" --export-json healthy.json \
  --command-name health-check.sh "bash health-check.sh" \
  --command-name "gymops health" "$gymops health"

echo "== PostgreSQL paused (hung): 10 runs each, probe timeout 2s =="
docker pause fitness_gym_postgres >/dev/null
hyperfine -N --runs 10 -i --export-json hung.json \
  --command-name "gymops health --timeout 2s" "$gymops health --timeout 2s" \
  --command-name health-check.sh "bash health-check.sh"
echo "-- what each says with PostgreSQL paused --"
"$gymops" health --timeout 2s || true
bash health-check.sh || true
docker unpause fitness_gym_postgres >/dev/null

python3 - <<'PY'
import json, statistics
def medians(path):
    return {r["command"]: statistics.median(r["times"]) for r in json.load(open(path))["results"]}
h = medians("healthy.json"); p = medians("hung.json")
script, tool = h["health-check.sh"], h["gymops health"]
print("\n== summary (median wall time) ==")
print(f"healthy: health-check.sh {script*1000:.0f} ms, gymops health {tool*1000:.0f} ms, "
      f"gymops/script = {tool/script:.3f} (target <= 0.100)")
hung = p["gymops health --timeout 2s"]
print(f"postgres hung: gymops health --timeout 2s {hung*1000:.0f} ms "
      f"(target <= 2300 ms: timeout + 0.3 s); health-check.sh {p['health-check.sh']*1000:.0f} ms")
PY
