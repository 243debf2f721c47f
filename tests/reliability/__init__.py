"""Faults injected under load (database and Redis outages, killed projectors, held locks) and
races over HTTP: what the ledger must survive with nothing acknowledged lost."""
