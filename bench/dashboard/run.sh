#!/usr/bin/env bash
# Benchmark: what `gymops dashboard` costs while it runs, side by side with `docker stats`
# (lazydocker and ctop are not in Debian's registry), on the guide-shaped stand-in stack.
# Each runs in a tmux pane for DURATION seconds (after a 5 s warm-up); measured from /proc:
# its own CPU time (utime+stime) as % of one core, its peak resident memory (VmHWM), and
# the Docker daemon's CPU over the same window (both make the engine work).
# Run by hand; paste the summary into docs/benchmarks.md with date and machine.
#   bench/dashboard/run.sh         (DURATION=60 by default; needs docker, docker-compose, tmux)
set -euo pipefail
duration=${DURATION:-60}
command -v tmux >/dev/null || { echo "missing tmux (apt-get install tmux)" >&2; exit 1; }
# shellcheck source=../stack.sh
source "$(dirname "$0")/../stack.sh"
stack_up
cd "$stack_dir"

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
dockerd_pid=$(pgrep -xo dockerd)

measure() { # name, command
  local session="gymops-bench-$1-$$"
  tmux new-session -d -x 200 -y 50 -s "$session" "exec $2"
  sleep 5
  local pid
  pid=$(tmux list-panes -t "$session" -F '#{pane_pid}')
  local t0 d0 t1 d1
  t0=$(ticks "$pid"); d0=$(ticks "$dockerd_pid")
  sleep "$duration"
  t1=$(ticks "$pid"); d1=$(ticks "$dockerd_pid")
  local hwm
  hwm=$(awk '/VmHWM/ {print $2}' "/proc/$pid/status")
  tmux kill-session -t "$session"
  python3 - "$1" "$t0" "$t1" "$d0" "$d1" "$hwm" "$duration" <<'PY'
import sys
name, t0, t1, d0, d1, hwm, seconds = sys.argv[1], *map(float, sys.argv[2:])
print(f"{name}: {(t1 - t0) / seconds:.2f} % of one core, peak RSS {hwm / 1024:.1f} MiB, "
      f"dockerd {(d1 - d0) / seconds:.2f} % of one core")
PY
}

echo "== $duration s each, refresh every 2 s (gymops' default; docker stats streams every second) =="
measure "gymops dashboard" "$gymops dashboard" | tee dashboard.txt
measure "docker stats" "docker stats" | tee docker-stats.txt
python3 - <<'PY'
import re
def parse(path):
    text = open(path).read()
    cpu, rss, daemon = map(float, re.findall(r"([\d.]+) % of one core, peak RSS ([\d.]+) MiB, dockerd ([\d.]+)", text)[0])
    return cpu, rss, daemon
g, d = parse("dashboard.txt"), parse("docker-stats.txt")
print("\n== summary ==")
print(f"CPU: gymops dashboard {g[0]:.2f} % (target <= 2 %), docker stats {d[0]:.2f} %, ratio {g[0] / max(d[0], 0.01):.2f}")
print(f"peak memory: gymops dashboard {g[1]:.1f} MiB (target < 50 MiB), docker stats {d[1]:.1f} MiB, ratio {g[1] / d[1]:.2f}")
print(f"dockerd while each ran: {g[2]:.2f} % vs {d[2]:.2f} %")
PY
