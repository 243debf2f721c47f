#!/usr/bin/env bash
# The primary's first start (the postgres image runs /docker-entrypoint-initdb.d/*.sh once,
# when it makes the data folder): lets the streaming replica connect for replication, and
# keeps a physical replication slot for it (named REPLICATION_SLOT), so the primary holds the
# WAL the replica has not received yet (up to max_slot_wal_keep_size; compose.yaml sets it).
set -euo pipefail
# POSTGRES_USER is the bootstrap superuser, which may replicate; the password it checks is
# POSTGRES_PASSWORD, which the replica is given too.
echo "host replication ${POSTGRES_USER} all scram-sha-256" >>"$PGDATA/pg_hba.conf"
psql --no-psqlrc --set ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  --command "SELECT pg_create_physical_replication_slot('${REPLICATION_SLOT}')" >/dev/null
