# Sourced by the benchmarks: start and stop the guide-shaped deployment (bench/health/
# docker-compose.yml) with docker-compose v1 on this machine's own images: the test rig's
# empty rootfs image, the host's PostgreSQL, and gymops' stand-in.
# After stack_up: $gymops (release binary), $stack_dir (compose project directory).

bench_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
image=gymops-test-rootfs:3

stack_up() {
  for tool in docker docker-compose curl hyperfine python3; do
    command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install $tool)" >&2; exit 1; }
  done
  (cd "$bench_root" && cargo build --release --locked --bin gymops --example standin)
  gymops="$bench_root/target/release/gymops"
  if ! docker image inspect "$image" >/dev/null 2>&1; then
    local rootfs
    rootfs=$(mktemp -d)
    mkdir -p "$rootfs"/{usr,etc,tmp,proc,sys,dev,run,var/tmp,var/run/postgresql,opt,data,app/logs}
    chmod 1777 "$rootfs"/{tmp,var/tmp,var/run/postgresql,data,app/logs}
    for link in bin:usr/bin lib:usr/lib lib64:usr/lib64 sbin:usr/sbin; do ln -s "${link#*:}" "$rootfs/${link%%:*}"; done
    tar -C "$rootfs" -cf - . | docker import --message "gymops test rig rootfs" - "$image" >/dev/null
    rm -rf "$rootfs"
  fi
  PG_UID="$(id -u postgres):$(id -g postgres)"
  PGBIN=$(find /usr/lib/postgresql -maxdepth 2 -name bin -type d | sort -V | tail -n 1)
  PG_ENTRYPOINT="$bench_root/tests/support/pg-entrypoint.sh"
  STANDIN="$bench_root/target/release/examples/standin"
  POSTGRES_PASSWORD="bench-$RANDOM$RANDOM"
  COMPOSE_PROJECT_NAME=fitness_gym
  export PG_UID PGBIN PG_ENTRYPOINT STANDIN POSTGRES_PASSWORD COMPOSE_PROJECT_NAME
  export GYMOPS_POSTGRES_PASSWORD="$POSTGRES_PASSWORD"
  stack_dir=$(mktemp -d)
  cp "$bench_root/bench/health/docker-compose.yml" "$bench_root/bench/health/health-check.sh" "$stack_dir/"
  trap stack_down EXIT
  (cd "$stack_dir" && docker-compose up -d >/dev/null 2>&1)
  for _ in $(seq 1 90); do
    "$gymops" -q health >/dev/null 2>&1 && return 0
    sleep 1
  done
  echo "the stack did not become healthy" >&2
  "$gymops" health >&2 || true
  exit 1
}

stack_down() {
  docker unpause fitness_gym_postgres >/dev/null 2>&1 || true
  (cd "$stack_dir" && docker-compose down -v --timeout 1 >/dev/null 2>&1) || true
  rm -rf "$stack_dir"
}
