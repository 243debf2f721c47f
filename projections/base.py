"""What a projection is: a name, the tables it owns, and one handler per event it reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from ledger import contract
from projections.changes import Changes, Table
from projections.events import Event

Handler = Callable[[Event[Any], Changes], None]


class Projection:
    """A read model. Subclasses define `name`, `tables` and methods `on_<EventName>`."""

    name: ClassVar[str]
    tables: ClassVar[tuple[Table, ...]]
    # The shape of the rows it writes: bumped with every change to what the handlers write
    # (a new column filled, a value computed differently), so the new code builds its tables
    # beside the old ones (`ledger projections rebuild`) while the old code keeps serving, and
    # neither applies events to the other's tables (projections.positions.lock).
    version: ClassVar[int] = 1

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {
            attr.removeprefix("on_"): getattr(self, attr)
            for attr in dir(type(self))
            if attr.startswith("on_")
        }

    @property
    def event_names(self) -> frozenset[str]:
        return frozenset(self._handlers)

    @property
    def aggregates(self) -> frozenset[str] | None:
        """The topics of the aggregates whose events it reads (ledger.contract); None when it
        reads an event the contract does not name (it cannot say which aggregates)."""
        types = [contract.EVENTS.get(name) for name in self._handlers]
        return frozenset(t.aggregate for t in types if t) if all(types) else None

    def handler_for(self, event_name: str) -> Handler | None:
        return self._handlers.get(event_name)
