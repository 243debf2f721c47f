"""Forms into the API's own request models, so a form is checked exactly as the JSON body of
the same command would be: a field the model refuses is a VALIDATION_ERROR naming it."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

from api.admin.csrf import FIELD
from api.errors import ApiError

M = TypeVar("M", bound=BaseModel)


async def fields(request: Request) -> dict[str, str]:
    """The form's text fields, the CSRF token left out (it is checked before)."""
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str) and k != FIELD}


def parse(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except PydanticError as exc:
        details = [
            {"loc": ["form", *(str(p) for p in e["loc"])], "msg": e["msg"], "type": e["type"]}
            for e in exc.errors()
        ]
        raise ApiError("VALIDATION_ERROR", "the form is not valid", details) from None


def listed(text: str, separator: str) -> list[str]:
    """A form's list field (tags by commas, images by lines): its non-empty items."""
    return [item.strip() for item in text.split(separator) if item.strip()]


def required(data: dict[str, str], name: str) -> str:
    value = data.get(name, "").strip()
    if not value:
        raise ApiError(
            "VALIDATION_ERROR", f"{name} is required",
            [{"loc": ["form", name], "msg": "this field is required", "type": "missing"}],
        )  # fmt: skip
    return value
