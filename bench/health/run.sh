#!/usr/bin/env bash
# Benchmark: `gymops health` against the guide's health-check.sh (docker-compose ps + curl +
# docker-compose exec pg_isready) on the same healthy stack, in one run, then with PostgreSQL
# hung (paused). Run by hand; paste the summary into docs/benchmarks.md with date and machine.
#   bench/health/run.sh            (RUNS=15 by default; needs docker, docker-compose, curl, hyperfine)
set -euo pipefail
runs=${RUNS:-15}
# shellcheck source=../stack.sh
source "$(dirname "$0")/../stack.sh"
stack_up
cd "$stack_dir"
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
