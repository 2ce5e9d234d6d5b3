#!/usr/bin/env bash
# Backup and restore benchmark (issue: backups, item 8), run by hand:
#   bench/backup/run.sh              (ROUNDS=5 backup rounds, RUNS=6 restore rounds; ONLY=restore;
#                                     RESTORE=as-is|busy for one of the two restore conditions)
# On the guide-shaped stack (bench/stack.sh; PostgreSQL's data on a volume, as in the guide's
# deployment) with the realistic gym database
# (../shared/bench/gym_dataset.sql, about 1 GB):
#   backup:  gymops backup create --compress zstd --recipient AGE_KEY
#            vs the guide-style `docker exec pg_dump | gzip | openssl enc -aes-256-cbc`
#            vs the limit, `docker exec pg_dump > /dev/null`
#   memory:  gymops's peak RSS (GNU time) during a backup
#   restore: gymops backup restore (checksum and key checked first, then psql in one
#            transaction, then row counts compared) vs `gunzip -c | docker exec -i psql`
#            and vs the same in one transaction, with the CPUs as they are and kept busy
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dataset=${DATASET:-$here/../../../shared/bench/gym_dataset.sql}
runs=${RUNS:-6}
restore=${RESTORE:-both}
case "$restore" in both|as-is|busy) ;; *) echo "RESTORE must be both, as-is or busy" >&2; exit 2;; esac
source "$here/../stack.sh"
for tool in age-keygen gzip openssl /usr/bin/time; do
  command -v "$tool" >/dev/null || { echo "missing $tool" >&2; exit 1; }
done
stack_up
cd "$stack_dir"
cat > gymops.yaml <<YAML
postgres:
  bin_dir: $PGBIN
backup:
  dir: $stack_dir/backups
YAML
psql_cmd="docker exec -i fitness_gym_postgres $PGBIN/psql -X -q -h /var/run/postgresql -U postgres"
echo "loading $dataset (a few minutes)" >&2
$psql_cmd -d fitness_gym -v ON_ERROR_STOP=1 < "$dataset" >/dev/null
# Settle the fresh load (hint bits, visibility map, statistics) so its autovacuum does not
# run during the first rounds; PARALLEL 0: parallel vacuum needs more than Docker's 64 MB
# /dev/shm.
$psql_cmd -d fitness_gym -v ON_ERROR_STOP=1 -c 'VACUUM (FREEZE, ANALYZE, PARALLEL 0)' -c CHECKPOINT
$psql_cmd -d fitness_gym -At -c "SELECT 'database size: ' || pg_size_pretty(pg_database_size('fitness_gym'))"

age-keygen -o key.txt 2>/dev/null
recipient=$(age-keygen -y key.txt)
head -c 32 /dev/urandom | base64 > openssl.pass
dump="docker exec fitness_gym_postgres $PGBIN/pg_dump -h /var/run/postgresql -U postgres fitness_gym"

if [ "${ONLY:-}" != restore ]; then
# Interleaved rounds (bench/rounds.py): the VM's speed drifts over minutes, and hyperfine's
# consecutive runs of one command would share that drift.
python3 "$here/../rounds.py" --rounds "${ROUNDS:-5}" --reference limit --baseline "guide (pg_dump, gzip, openssl enc)" --export backup.md \
  --prepare "rm -rf $stack_dir/backups $stack_dir/guide.sql.gz.enc" \
  "gymops backup create (zstd + age)=$gymops -q backup create --compress zstd --recipient $recipient" \
  "gymops backup create --level 3=$gymops -q backup create --compress zstd --level 3 --recipient $recipient" \
  "guide (pg_dump, gzip, openssl enc)=$dump | gzip | openssl enc -aes-256-cbc -pbkdf2 -salt -pass file:openssl.pass > guide.sql.gz.enc" \
  "limit=$dump > /dev/null"
fi
rm -rf backups
/usr/bin/time -v "$gymops" -q backup create --compress zstd --recipient "$recipient" 2> time.txt
grep -E 'Maximum resident set size|Elapsed' time.txt
backup=$(ls backups/*.age)
ls -l "$backup" guide.sql.gz.enc 2>/dev/null || true
bash -o pipefail -c "$dump | gzip > guide.sql.gz"
ls -l guide.sql.gz

# Interleaved too: each round restores into a fresh database with each tool, each restore
# after a CHECKPOINT and a sync, so none pays for the previous one's writes; and the order
# alternates (A B C, C B A, ...): whichever restore ran first in a round was up to 20% slower.
# The third command is the guide's load in one transaction, as gymops loads: it tells how
# much of any difference is the transaction rather than the tool.
restore_rounds() {
  python3 "$here/../rounds.py" --rounds "$runs" --alternate --reference "gunzip | psql (guide)" --export "$1" \
    --prepare "$psql_cmd -d postgres -c 'DROP DATABASE IF EXISTS r_gymops' -c 'DROP DATABASE IF EXISTS r_guide' -c 'DROP DATABASE IF EXISTS r_single' -c 'CREATE DATABASE r_guide' -c 'CREATE DATABASE r_single' -c CHECKPOINT && sync" \
    "gymops backup restore (age + zstd)=$gymops -q backup restore $backup --database r_gymops --create --identity key.txt" \
    "gunzip | psql (guide)=gunzip -c guide.sql.gz | $psql_cmd -d r_guide > /dev/null" \
    "gunzip | psql --single-transaction=gunzip -c guide.sql.gz | $psql_cmd --single-transaction -d r_single > /dev/null"
}
# Twice: as the machine is, and with every core kept busy by a SCHED_IDLE spinner (what the
# kernel's idle=poll does: the CPUs never halt; the spinners run only when nothing else
# wants a CPU). When the server's files lived in the container layer (fuse-overlayfs here)
# a load ran up to 25% slower when the CPUs went idle between its writes, and a feeder that
# burns CPU (gunzip) sped it up; the second condition shows whether a result depends on
# that. Neither condition is neutral: docs/benchmarks.md shows both.
spinners=()
spin_stop() { [ ${#spinners[@]} -eq 0 ] || { kill "${spinners[@]}" 2>/dev/null; wait "${spinners[@]}" 2>/dev/null; spinners=(); } || true; }
trap 'spin_stop; stack_down' EXIT
if [ "$restore" != busy ]; then
  echo "restore rounds, CPUs as they are" >&2
  restore_rounds restore.md
fi
if [ "$restore" != as-is ]; then
  echo "restore rounds, CPUs kept busy by SCHED_IDLE spinners" >&2
  for _ in $(seq "$(nproc)"); do
    timeout 7200 chrt --idle 0 bash -c 'while :; do :; done' &
    spinners+=($!)
  done
  restore_rounds restore-busy.md
  spin_stop
fi

/usr/bin/time -v "$gymops" -q backup restore "$backup" --database r_mem --create --identity key.txt 2> time-restore.txt || true
grep -E 'Maximum resident set size|Elapsed' time-restore.txt
cat backup.md restore.md restore-busy.md 2>/dev/null || true
