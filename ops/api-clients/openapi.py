"""Prints the API's OpenAPI document, as the app serves it at /openapi.json, in a stable form:
keys sorted, two-space indents, a final newline. ops/scripts/api-clients writes it to
docs/openapi.json; tests/ops/test_api_clients.py checks that file against the code."""

from __future__ import annotations

import json
import sys

from api.app import create_app
from ledger.settings import Settings


def document() -> str:
    """The document as committed. The routes alone shape it; the settings only have to be
    valid, so no environment variable or .env file changes it."""
    settings = Settings(_env_file=None, ledger_env="development")
    return json.dumps(create_app(settings).openapi(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document())
