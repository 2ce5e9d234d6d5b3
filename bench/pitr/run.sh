#!/usr/bin/env bash
# Point-in-time recovery benchmark (issue 24, item 6), run by hand:
#   bench/pitr/run.sh                    (ROUNDS=3 base backup rounds, RESTORES=2)
# On the guide-shaped stack (bench/stack.sh; PostgreSQL's data on a volume) with the gym
# database (../shared/bench/gym_dataset.sql, about 1 GB), WAL archiving running:
#   base:    gymops backup create --type base (pg_basebackup -> zstd -> age -> file, the tar
#            read for its WAL points, a signed manifest)
#            vs bare `docker exec pg_basebackup -Ft -D - -X none > /dev/null` (target <= 1.25x),
#            the shell pipeline it replaces (pg_basebackup | zstd -1 | age > file, sync), and
#            pg_basebackup writing to /dev/null inside the container (the floor: no transfer)
#   restore: gymops backup restore --latest --type base with the WAL of 100,000 changes
#            (single-row UPDATEs of checkin, 1,000 per transaction) replayed, vs the same
#            base backup restored alone (its end point): the cost of replaying the WAL
#   rpo:     100 commits/s for 60 s; once a second, how long until the receiver has flushed
#            the WAL position of that moment (measured inside PostgreSQL against
#            pg_stat_replication); side by side with archive_command's RPO at the same load,
#            the time to fill a 16 MiB segment (WAL leaves the server only then)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dataset=${DATASET:-$here/../../../shared/bench/gym_dataset.sql}
source "$here/../stack.sh"
for tool in age age-keygen zstd /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
stack_up
cd "$stack_dir"
age-keygen -o key.txt 2>/dev/null
recipient=$(age-keygen -y key.txt)
cat > gymops.yaml <<YAML
postgres:
  bin_dir: $PGBIN
backup:
  dir: $stack_dir/backups
  recipients: ["$recipient"]
YAML
psql_cmd="docker exec -i fitness_gym_postgres $PGBIN/psql -X -q -h /var/run/postgresql -U postgres"
echo "loading $dataset (a few minutes)" >&2
$psql_cmd -d fitness_gym -v ON_ERROR_STOP=1 < "$dataset" >/dev/null
$psql_cmd -d fitness_gym -v ON_ERROR_STOP=1 -c 'VACUUM (FREEZE, ANALYZE, PARALLEL 0)' -c CHECKPOINT
$psql_cmd -d fitness_gym -At -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size('fitness_gym'))"
# The receiver's replication connection (the rig's pg_hba.conf allows localhost only).
docker exec fitness_gym_postgres sh -c "echo 'host replication all 0.0.0.0/0 scram-sha-256' >> /data/pgdata/pg_hba.conf"
$psql_cmd -d postgres -c 'SELECT pg_reload_conf()' >/dev/null
cleanup() {
  "$gymops" -q backup wal stop >/dev/null 2>&1 || true
  for project in bench-pitr-wal bench-pitr-base; do
    docker rm -f "$project-postgres-1" >/dev/null 2>&1 || true
    docker volume rm "${project}_postgres_data" >/dev/null 2>&1 || true
    docker network rm "${project}_default" >/dev/null 2>&1 || true
  done
  stack_down
}
trap cleanup EXIT
"$gymops" -q backup wal start

echo "base backup rounds" >&2
basebackup="docker exec fitness_gym_postgres $PGBIN/pg_basebackup -h /var/run/postgresql -U postgres -D - -Ft -X none --checkpoint=fast"
python3 "$here/../rounds.py" --rounds "${ROUNDS:-3}" --reference "pg_basebackup > /dev/null" --export base.md \
  --prepare "rm -f $stack_dir/backups/*_base_* $stack_dir/shell-base.tar.zst.age && $psql_cmd -d postgres -c CHECKPOINT >/dev/null && sync" \
  "gymops backup create --type base=$gymops -q backup create --type base" \
  "pg_basebackup | zstd -1 | age > file (the shell pipeline)=$basebackup | zstd -q -1 | age -r $recipient > $stack_dir/shell-base.tar.zst.age && sync" \
  "pg_basebackup > /dev/null=$basebackup > /dev/null" \
  "pg_basebackup > /dev/null inside the container (no transfer at all)=docker exec fitness_gym_postgres sh -c '$PGBIN/pg_basebackup -h /var/run/postgresql -U postgres -D - -Ft -X none --checkpoint=fast > /dev/null'"
/usr/bin/time -v "$gymops" -q backup create --type base 2> time-base.txt
grep -E 'Maximum resident set size|Elapsed' time-base.txt
base=$(ls -t backups/*_base_*.age | head -n 1)
ls -l "$base"

echo "100,000 changes after the base backup" >&2
$psql_cmd -d fitness_gym -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
DO $$
BEGIN
  FOR batch IN 0..99 LOOP
    FOR i IN 1..1000 LOOP
      UPDATE checkin SET device = 'moved-' || batch WHERE id = batch * 1000 + i;
    END LOOP;
    COMMIT;
  END LOOP;
END $$;
SQL
$psql_cmd -d fitness_gym -At -c "SELECT 'changed rows: ' || count(*) FROM checkin WHERE device LIKE 'moved-%'"
$psql_cmd -d postgres -c 'SELECT pg_switch_wal()' >/dev/null
sleep 2
"$gymops" -q backup wal archive
"$gymops" backup wal status

echo "restore rounds" >&2
python3 "$here/../rounds.py" --rounds "${RESTORES:-2}" --alternate --reference "base backup alone" --export restore.md \
  --prepare "for p in bench-pitr-wal bench-pitr-base; do docker rm -f \$p-postgres-1 >/dev/null 2>&1; docker volume rm \${p}_postgres_data >/dev/null 2>&1; docker network rm \${p}_default >/dev/null 2>&1; done; sync" \
  "base + WAL of 100,000 changes=$gymops -q backup restore --latest --type base --into bench-pitr-wal --identity key.txt" \
  "base backup alone=$gymops -q backup restore $base --into bench-pitr-base --identity key.txt"
docker exec bench-pitr-wal-postgres-1 "$PGBIN/psql" -h /tmp -U postgres -d fitness_gym -At \
  -c "SELECT 'restored changed rows: ' || count(*) FROM checkin WHERE device LIKE 'moved-%'"

echo "RPO under 100 commits/s" >&2
$psql_cmd -d fitness_gym -c 'CREATE TABLE IF NOT EXISTS rpo_probe (id bigserial PRIMARY KEY, at timestamptz DEFAULT clock_timestamp())' >/dev/null
( for _ in $(seq 1 6000); do echo "INSERT INTO rpo_probe DEFAULT VALUES; SELECT pg_sleep(0.01);"; done \
  | $psql_cmd -d fitness_gym >/dev/null ) &
writer=$!
lsn_start=$($psql_cmd -d postgres -At -c 'SELECT pg_current_wal_lsn()')
time_start=$(date +%s.%N)
: > rpo.txt
for _ in $(seq 1 55); do
  $psql_cmd -d postgres -At >> rpo.txt <<'SQL'
DO $$
DECLARE target pg_lsn := pg_current_wal_lsn(); started timestamptz := clock_timestamp();
BEGIN
  LOOP
    EXIT WHEN (SELECT flush_lsn FROM pg_stat_replication WHERE application_name = 'gymops_wal') >= target;
    IF clock_timestamp() - started > interval '30 s' THEN RAISE EXCEPTION 'not flushed in 30 s'; END IF;
    PERFORM pg_sleep(0.002);
  END LOOP;
  RAISE NOTICE 'delay %', extract(epoch FROM clock_timestamp() - started);
END $$;
SQL
  sleep 1
done 2>> rpo.txt
lsn_end=$($psql_cmd -d postgres -At -c 'SELECT pg_current_wal_lsn()')
time_end=$(date +%s.%N)
wait "$writer"
commits=$($psql_cmd -d fitness_gym -At -c 'SELECT count(*) FROM rpo_probe')
bytes=$($psql_cmd -d postgres -At -c "SELECT pg_wal_lsn_diff('$lsn_end', '$lsn_start')")
python3 - "$time_start" "$time_end" "$bytes" "$commits" <<'PY'
import re, statistics, sys
start, end, wal_bytes, commits = float(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
delays = [float(m) for m in re.findall(r"delay ([0-9.]+)", open("rpo.txt").read())]
seconds = end - start
rate = wal_bytes / seconds
segment = 16 * 1024 * 1024
print(f"load: {commits} commits, {wal_bytes / 1e6:.1f} MB of WAL in {seconds:.0f} s ({rate / 1024:.0f} KiB/s)")
print(f"receiver RPO over {len(delays)} samples: p50 {statistics.median(delays) * 1000:.1f} ms, "
      f"p95 {sorted(delays)[int(len(delays) * 0.95) - 1] * 1000:.1f} ms, max {max(delays) * 1000:.1f} ms")
print(f"archive_command at this load: a 16 MiB segment fills every {segment / rate:.0f} s "
      f"(RPO up to that); ratio {segment / rate / max(delays):.0f}x the receiver's worst")
PY
cat base.md restore.md
