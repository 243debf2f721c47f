"""What the API says about a person as a whole: their export, and an erasure (issue #14)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.schemas.auth import EXAMPLE_PASSWORD, UserOut
from api.schemas.common import Model, Text
from api.schemas.orders import HistoryEntryOut, OrderOut
from reads.people import Person


class ExportedOrderOut(OrderOut):
    history: list[HistoryEntryOut]


class ExportOut(BaseModel):
    """Everything the ledger holds about the person, as one document."""

    user: UserOut
    orders: list[ExportedOrderOut]

    @classmethod
    def from_person(cls, person: Person) -> ExportOut:
        return cls(
            user=UserOut.from_row(person.user),
            orders=[
                ExportedOrderOut(
                    **OrderOut.from_row(order).model_dump(),
                    history=[HistoryEntryOut(**h) for h in person.histories[order["id"]]],
                )
                for order in person.orders
            ],
        )


class EraseMeIn(Model):
    model_config = ConfigDict(json_schema_extra={"examples": [{"password": EXAMPLE_PASSWORD}]})

    password: Annotated[Text, Field(min_length=1, max_length=256)]


class ErasedOut(BaseModel):
    id: str
    erased: bool = True
