#!/usr/bin/env bash
# The streaming replica's entrypoint: on its first start, a base backup of the primary with
# `pg_basebackup --write-recovery-conf` (standby.signal, and primary_conninfo and the slot
# in postgresql.auto.conf), then PostgreSQL as a hot standby of it. Later starts find the
# data folder and resume streaming from where the replica stopped.
#
# Environment: PGDATA, PRIMARY_HOST, PRIMARY_PORT (5432), PGUSER and PGPASSWORD (a role
# that may replicate), REPLICATION_SLOT (the slot the primary keeps, allow-replication.sh).
# Arguments are passed to postgres.
set -euo pipefail

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  until pg_isready --quiet --host="$PRIMARY_HOST" --port="${PRIMARY_PORT:-5432}"; do
    echo "replica: waiting for the primary at $PRIMARY_HOST:${PRIMARY_PORT:-5432}"
    sleep 1
  done
  # What an interrupted first start left behind is not a usable copy.
  rm -rf "$PGDATA"
  echo "replica: base backup of $PRIMARY_HOST:${PRIMARY_PORT:-5432} into $PGDATA"
  pg_basebackup --pgdata="$PGDATA" --write-recovery-conf --wal-method=stream \
    --checkpoint=fast --slot="${REPLICATION_SLOT}" --no-password \
    --host="$PRIMARY_HOST" --port="${PRIMARY_PORT:-5432}"
fi
exec postgres "$@"
