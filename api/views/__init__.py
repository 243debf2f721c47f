"""Moved: the read queries are the top-level `reads` package, shared by the API and the CLI.

`api.views.reports` stays importable for code outside the API that still names it."""
