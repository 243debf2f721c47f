"""The HTTP API: FastAPI over the write side (`ledger.application.Ledger`) and the read
tables the projectors keep. `create_app(settings)` builds it."""

from api.app import create_app

__all__ = ["create_app"]
