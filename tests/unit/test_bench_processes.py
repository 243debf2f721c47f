"""The bench's processes share one secret: a projector or API started by a section opens the
data keys its in-process ledger made (a projector with another secret projected nothing, and
the live-lag rows read 0 ms)."""

from __future__ import annotations

import pytest

from bench.database import bench_env, bench_settings
from bench.sections.http import server_env
from ledger.settings import Settings

URL = "postgresql://postgres@127.0.0.1:5432/ledger_bench_example"


@pytest.mark.parametrize("env", [bench_env(URL), server_env(URL)], ids=["projector", "api"])
def test_a_bench_process_uses_the_in_process_ledgers_secret(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("LEDGER_SECRET_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert Settings().secret_key == bench_settings().secret_key
