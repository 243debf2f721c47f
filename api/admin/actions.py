"""Running a console action: the API's own command path (api.writes.Commands: the same
command thread pool, the same wait until the projections show the change), then the browser
sent on to a page that says it worked (POST, redirect, GET: a reload does not resend)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import quote

from fastapi.responses import RedirectResponse

from api.admin.notices import NOTICES
from api.idempotency import Command
from api.writes import Commands
from ledger.application import Ledger
from ledger.commands import CommandResult


async def command(
    commands: Commands,
    handle: Callable[[Ledger, Command], CommandResult],
    action: Command,
    projections: Iterable[str],
) -> CommandResult:
    """Runs `action` and waits (bounded, as the API does) until `projections` show it, so the
    page the browser is sent to next reads the change."""
    result = await commands.run(handle, action)
    await commands.settle(result, projections)
    return result


def done(path: str, notice: str) -> RedirectResponse:
    """Sends the browser to `path` (a console page), which will say `notice`."""
    if notice not in NOTICES:
        raise ValueError(f"no notice {notice!r}")
    return RedirectResponse(f"{quote(path)}?done={notice}", status_code=303)
