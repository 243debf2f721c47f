"""The `ledger` command: the one place that composes the domain, the projections and the API."""
