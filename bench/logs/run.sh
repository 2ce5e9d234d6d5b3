#!/usr/bin/env bash
# Benchmark: `gymops logs stats --file` against the guide's log-analysis pipelines (section
# 3.2) and `wc -l`, on the same >= 1 GB Spring Boot log, in one hyperfine run; then peak
# memory of gymops at two input sizes. Run by hand; results go to docs/benchmarks.md.
#   bench/logs/run.sh            (SIZE_MB=1024 RUNS=5; needs python3, hyperfine, GNU time)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
size_mb=${SIZE_MB:-1024}
runs=${RUNS:-5}
log=${BENCH_LOG:-/tmp/gymops-bench-${size_mb}m.log}
small=/tmp/gymops-bench-128m.log

for tool in python3 hyperfine /usr/bin/time grep awk sort uniq wc; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
(cd "$root" && cargo build --release --locked --bin gymops)
gymops="$root/target/release/gymops"

[ -s "$log" ] || python3 "$here/generate.py" "$log" "$size_mb"
[ -s "$small" ] || python3 "$here/generate.py" "$small" 128
cat "$log" > /dev/null   # page cache: every command reads from memory
ls -l "$log"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
hyperfine --warmup 1 --runs "$runs" --export-json "$work/logs.json" \
  --command-name "wc -l" "wc -l $log" \
  --command-name "gymops logs stats" "$gymops logs stats --file $log --output json" \
  --command-name "levels pipeline" "grep -E \"(ERROR|WARN|INFO)\" $log | awk '{print \$1}' | sort | uniq -c" \
  --command-name "errors-per-hour pipeline" "grep \"ERROR\" $log | awk '{print substr(\$1,1,13)}' | sort | uniq -c"

echo "== peak memory (max RSS) of gymops logs stats =="
for file in "$small" "$log"; do
  /usr/bin/time -f "%M KB max RSS for $(du -h "$file" | cut -f1) input" "$gymops" logs stats --file "$file" --output json > /dev/null
done

python3 - "$work/logs.json" <<'PY'
import json, statistics, sys
results = {r["command"]: statistics.median(r["times"]) for r in json.load(open(sys.argv[1]))["results"]}
g = results["gymops logs stats"]
print("\n== summary (median wall time) ==")
for name, t in results.items():
    print(f"{name:28s} {t:7.3f} s")
print(f"levels pipeline / gymops          = {results['levels pipeline'] / g:5.1f}x  (target >= 3x)")
print(f"errors-per-hour pipeline / gymops = {results['errors-per-hour pipeline'] / g:5.1f}x  (target >= 3x)")
print(f"gymops / wc -l                    = {g / results['wc -l']:5.2f}   (target <= 3)")
PY
