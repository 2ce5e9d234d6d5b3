#!/usr/bin/env bash
# Benchmark: a no-op `gymops up` on a running ten-service stack, one service at three
# replicas (deploy.replicas), against a no-op `docker-compose up -d` on the same compose
# file, in one hyperfine run.
#   bench/deploy/run.sh        (RUNS=10; needs docker, docker-compose, hyperfine)
# Each tool gets its own copy of the stack (projects benchdc and benchgy): docker-compose
# and gymops compute config hashes differently, so on one shared project each would
# recreate the other's containers every round instead of measuring a no-op.
set -euo pipefail
runs=${RUNS:-10}
bench_root=$(cd "$(dirname "$0")/../.." && pwd)
image=gymops-test-rootfs:3
for tool in docker docker-compose hyperfine; do
  command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 1; }
done
(cd "$bench_root" && cargo build --release --locked --bin gymops)
gymops="$bench_root/target/release/gymops"
if ! docker image inspect "$image" >/dev/null 2>&1; then
  rootfs=$(mktemp -d)
  mkdir -p "$rootfs"/{usr,etc,tmp,proc,sys,dev,run,var/tmp,opt,data}
  chmod 1777 "$rootfs"/{tmp,var/tmp,data}
  for link in bin:usr/bin lib:usr/lib lib64:usr/lib64 sbin:usr/sbin; do ln -s "${link#*:}" "$rootfs/${link%%:*}"; done
  tar -C "$rootfs" -cf - . | docker import --message "gymops test rig rootfs" - "$image" >/dev/null
  rm -rf "$rootfs"
fi
dir=$(mktemp -d)
cleanup() {
  (cd "$dir" && docker-compose -p benchdc down -t 0 -v >/dev/null 2>&1 || true)
  (cd "$dir" && "$gymops" -q down -t 0 --volumes --yes >/dev/null 2>&1 || true)
  # The release tags gymops keeps for rollback.
  docker images --format '{{.Repository}}:{{.Tag}}' | grep '^gymops-release/benchgy-' | xargs -r docker rmi >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
{
  cat <<YAML
services:
  postgres:
    image: $image
    command: ["/usr/bin/sleep", "infinity"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro", "pgdata:/data"]
    healthcheck: {test: ["CMD", "/usr/bin/true"], interval: 2s, retries: 3}
  minio:
    image: $image
    command: ["/usr/bin/sleep", "infinity"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro"]
  backend:
    image: $image
    command: ["/usr/bin/sleep", "infinity"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro"]
    environment: {SPRING_PROFILES_ACTIVE: prod}
    deploy: {replicas: 3}
    depends_on:
      postgres: {condition: service_healthy}
      minio: {condition: service_started}
YAML
  for n in 1 2 3 4 5 6 7; do
    cat <<YAML
  worker$n:
    image: $image
    command: ["/usr/bin/sleep", "infinity"]
    volumes: ["/usr:/usr:ro", "/etc:/etc:ro"]
    environment: {WORKER: "$n"}
    depends_on: [backend]
YAML
  done
  cat <<YAML
volumes:
  pgdata:
YAML
} > "$dir/docker-compose.yml"
{
  printf 'project: benchgy\nservices:\n'
  for s in postgres minio backend worker1 worker2 worker3 worker4 worker5 worker6 worker7; do
    printf '  %s: {container: null}\n' "$s"
  done
  printf 'deploy:\n  gate: [containers]\n'
} > "$dir/gymops.yaml"
cd "$dir"
docker-compose -p benchdc up -d
"$gymops" up
# Both run the same containers: three backends each.
for project in benchdc benchgy; do
  n=$(docker ps -q --filter "label=com.docker.compose.project=$project" | wc -l)
  [ "$n" -eq 12 ] || { echo "$project runs $n containers, not 12" >&2; exit 1; }
done
echo "--- both stacks up (12 containers each); timing no-op runs"
hyperfine -N --warmup 2 --runs "$runs" --export-json "$dir/deploy.json" \
  --command-name "docker-compose up -d" "docker-compose -p benchdc up -d" \
  --command-name "gymops up" "$gymops -q up"
python3 - "$dir/deploy.json" <<'PY'
import json, statistics, sys
r = {x["command"]: statistics.median(x["times"]) for x in json.load(open(sys.argv[1]))["results"]}
d, g = r["docker-compose up -d"], r["gymops up"]
print(f"\nmedian: docker-compose up -d {d*1000:.0f} ms, gymops up {g*1000:.0f} ms, gymops/docker-compose = {g/d:.2f} (target <= 0.33)")
PY
