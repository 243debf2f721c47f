"""`ledger demo`: the demo catalog."""

from __future__ import annotations

import typer

from ledger_cli import context

app = typer.Typer(help="The demo catalog.", no_args_is_help=True, rich_markup_mode=None)


@app.command()
def seed() -> None:
    """Create the demo catalog (prod_1 … prod_50); products that exist are left alone."""
    from ledger.demo import DEMO_SIZE, seed_demo

    created = seed_demo(context.ledger(pool_size=1))
    typer.echo(f"demo catalog: {created} created, {DEMO_SIZE - created} already there")
