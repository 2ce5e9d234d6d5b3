#!/bin/sh
# Test rig: PostgreSQL from the host's packages, in a container of the empty rootfs image
# with the host's /usr and /etc mounted read-only. Data lives in the container's layer
# unless PGDATA points into a volume (the benchmarks' stack: like the guide's
# fitness_gym_postgres_data volume, and not on the engine's storage driver).
# Like the official image, a data directory that holds a cluster already is started as it
# is (a restarted container, or one whose data a restore replaced).
set -eu
PGDATA=${PGDATA:-/tmp/pgdata}
umask 077
if [ -f "$PGDATA/PG_VERSION" ]; then
  # A test's slow start: once, the next start waits before PostgreSQL (a server that takes
  # its time to answer after a restart).
  if [ -f /tmp/gymops-test-slow-start ]; then
    rm -f /tmp/gymops-test-slow-start
    sleep 20
  fi
  exec "$PGBIN/postgres" -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql \
    -c shared_preload_libraries=pg_stat_statements
fi
printf '%s\n' "$POSTGRES_PASSWORD" > /tmp/pwfile
"$PGBIN/initdb" -D "$PGDATA" -U postgres --pwfile=/tmp/pwfile --auth-local=trust \
  --auth-host=scram-sha-256 -E UTF8 --locale=C > /tmp/initdb.log
rm -f /tmp/pwfile
echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
echo "CREATE DATABASE fitness_gym" | "$PGBIN/postgres" --single -D "$PGDATA" postgres > /dev/null
# pg_stat_statements (postgresql-contrib) in fitness_gym, as the guide's slow-query check needs.
echo "CREATE EXTENSION pg_stat_statements" | "$PGBIN/postgres" --single -D "$PGDATA" fitness_gym > /dev/null
exec "$PGBIN/postgres" -D "$PGDATA" -c listen_addresses='*' -k /var/run/postgresql \
  -c shared_preload_libraries=pg_stat_statements
