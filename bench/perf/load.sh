#!/usr/bin/env bash
# Benchmark: `gymops perf load` against wrk on the same loopback endpoint (nginx serving a
# small file with keep-alive), same connections and duration, in one run.
#   bench/perf/load.sh        (CONNECTIONS=20 DURATION=10; needs nginx-light, wrk)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
connections=${CONNECTIONS:-20}
duration=${DURATION:-10}
for tool in nginx wrk python3; do command -v "$tool" >/dev/null || { echo "missing $tool (apt-get install nginx-light wrk)" >&2; exit 1; }; done
(cd "$root" && cargo build --release --locked --bin gymops)
gymops="$root/target/release/gymops"
work=$(mktemp -d)
port=18080
mkdir -p "$work/html" "$work/logs"
chmod 755 "$work" "$work/html"
printf '{"code":0,"msg":"ok"}\n' > "$work/html/index.json"
chmod 644 "$work/html/index.json"
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/logs/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  server { listen 127.0.0.1:$port; root $work/html; location / { default_type application/json; } }
}
CONF
nginx -c "$work/nginx.conf" -p "$work"
trap 'kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; rm -rf "$work"' EXIT
url="http://127.0.0.1:$port/index.json"
sleep 0.5
echo "== wrk -t2 -c$connections -d${duration}s =="
wrk -t2 -c"$connections" -d"${duration}s" --latency "$url" | tee "$work/wrk.txt"
echo "== gymops perf load -c $connections -d ${duration}s =="
"$gymops" perf load "$url" -c "$connections" -d "${duration}s" -o json | tee "$work/gymops.json"
python3 - "$work/wrk.txt" "$work/gymops.json" <<'PY'
import json, re, sys
wrk = open(sys.argv[1]).read()
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", wrk).group(1))
def ms(text):
    value, unit = re.match(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]
p99 = ms(re.search(r"99%\s+(\S+)", wrk).group(1))
g = json.load(open(sys.argv[2]))
print(f"\nwrk: {rps:.0f} req/s, p99 {p99:.3f} ms")
print(f"gymops: {g['requests_per_second']:.0f} req/s, p99 {g['latency']['p99_ms']:.3f} ms")
print(f"throughput gymops/wrk = {g['requests_per_second']/rps:.2f} (target >= 0.8); p99 gymops/wrk = {g['latency']['p99_ms']/p99:.2f} (target <= 1.2)")
PY
