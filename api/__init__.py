"""The HTTP API: FastAPI over the write side (`ledger.application.Ledger`) and the read
tables the projectors keep. `api.app.create_app(settings)` builds it.

Nothing is imported here, so a CLI command that only needs a schema or a query does not load
the whole app."""
