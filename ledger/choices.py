"""Defaults and choices that the CLI's argument parsing shares with the code behind it, in a
module that imports nothing, so `ledger --help` stays fast: the projector's batch size and
polling interval, and the reports' periods and rankings."""

from __future__ import annotations

from enum import StrEnum

# Most events a live projector applies per transaction, and how often it polls when no
# notification arrives.
LIVE_BATCH = 1_000
POLL_SECONDS = 1.0
# A report's period when none is given: this many UTC days, today the last of them.
DEFAULT_PERIOD_DAYS = 30


class Granularity(StrEnum):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


class TopBy(StrEnum):
    REVENUE = "revenue"
    QUANTITY = "quantity"
