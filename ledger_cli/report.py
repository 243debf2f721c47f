"""`ledger report sales|top-products|inventory`: the report endpoints' tables in a terminal.

The queries, their choices and the default period are the read side's (reads.reports), which
the HTTP reports use too, so the CLI and the API cannot disagree."""

from __future__ import annotations

import csv
import json
import sys
from datetime import date, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer._click.exceptions import UsageError

from ledger.choices import Granularity, TopBy
from ledger_cli import context

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="Reports from the projection tables.", no_args_is_help=True, rich_markup_mode=None
)
MONEY = ("gross", "refunds", "net", "revenue", "price", "stock_value")


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


FormatOption = Annotated[
    Format, typer.Option("--format", metavar="table|csv|json", help="Output format.")
]
FromOption = Annotated[
    datetime | None,
    typer.Option("--from", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="First day (UTC)."),
]
ToOption = Annotated[
    datetime | None,
    typer.Option("--to", formats=["%Y-%m-%d"], metavar="YYYY-MM-DD", help="Last day (UTC)."),
]


def _period(start: datetime | None, end: datetime | None) -> tuple[date, date]:
    from reads import reports

    try:
        return reports.period(start.date() if start else None, end.date() if end else None)
    except reports.PeriodError:
        raise UsageError("--from is after --to") from None


def _emit(rows: list[dict[str, Any]], columns: list[str], fmt: Format) -> None:
    from ledger.domain import format_minor

    currency = context.settings().ledger_currency
    shown = [
        {c: format_minor(int(r[c]), currency) if c in MONEY else r[c] for c in columns}
        for r in rows
    ]
    if fmt is Format.JSON:
        typer.echo(json.dumps(shown, indent=2, default=str))
    elif fmt is Format.CSV:
        writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(shown)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(*columns)
        for row in shown:
            table.add_row(*(str(row[c]) for c in columns))
        Console().print(table)


@app.command()
def sales(
    start: FromOption = None,
    end: ToOption = None,
    granularity: Annotated[
        Granularity, typer.Option(metavar="day|week|month", help="Period length.")
    ] = Granularity.DAY,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """Orders, items, gross, refunds and net per period (confirmed orders, UTC days)."""
    from reads import reports

    first, last = _period(start, end)
    rows = context.read(lambda conn: reports.sales(conn, first, last, granularity.value))
    _emit(rows, ["period", "orders", "items", "gross", "refunds", "net"], fmt)


@app.command("top-products")
def top_products(
    start: FromOption = None,
    end: ToOption = None,
    by: Annotated[TopBy, typer.Option(metavar="revenue|quantity", help="Rank by.")] = TopBy.REVENUE,
    limit: Annotated[int, typer.Option(min=1, max=100, metavar="N", help="1 to 100.")] = 10,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """Best sellers by net revenue or net quantity (returns subtracted)."""
    from reads import reports

    first, last = _period(start, end)
    rows = context.read(lambda conn: reports.top_products(conn, first, last, by.value, limit))
    _emit(rows, ["product_id", "name", "quantity", "revenue"], fmt)


@app.command()
def inventory(
    low_stock_below: Annotated[
        int | None, typer.Option(min=0, metavar="N", help="Only products with less available.")
    ] = None,
    fmt: FormatOption = Format.TABLE,
) -> None:
    """Per product: on hand, reserved, available and stock value."""
    from reads import reports

    rows, _ = context.read(lambda conn: reports.inventory(conn, low_stock_below, 10_000, 0))
    _emit(
        rows,
        ["product_id", "name", "on_hand", "reserved", "available", "price", "stock_value"],
        fmt,
    )
