#!/usr/bin/env bash
# Benchmark: one-shot `gymops perf stats` for the three services against
# `docker stats --no-stream` for the same three containers, in one hyperfine run.
#   bench/perf/run.sh        (RUNS=10; needs docker, docker-compose, hyperfine)
set -euo pipefail
runs=${RUNS:-10}
# shellcheck source=../stack.sh
source "$(dirname "$0")/../stack.sh"
stack_up
cd "$stack_dir"
"$gymops" perf stats
docker stats --no-stream fitness_gym_backend fitness_gym_postgres fitness_gym_minio
hyperfine -N --warmup 1 --runs "$runs" --export-json perf.json \
  --command-name "docker stats --no-stream" "docker stats --no-stream fitness_gym_backend fitness_gym_postgres fitness_gym_minio" \
  --command-name "gymops perf stats" "$gymops perf stats"
python3 - <<'PY'
import json, statistics
r = {x["command"]: statistics.median(x["times"]) for x in json.load(open("perf.json"))["results"]}
d, g = r["docker stats --no-stream"], r["gymops perf stats"]
print(f"\nmedian: docker stats --no-stream {d*1000:.0f} ms, gymops perf stats {g*1000:.0f} ms, gymops/docker = {g/d:.2f} (target <= 0.5)")
PY
