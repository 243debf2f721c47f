"""Keyset cursors in links: the sort key of a page's last row, as one opaque query value
(`after`), and back. A cursor that does not decode to the expected shape is a 422."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode

import orjson

from api.errors import ApiError


def encode(*key: Any) -> str:
    raw = orjson.dumps([k.isoformat() if hasattr(k, "isoformat") else k for k in key])
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, size: int) -> list[str] | None:
    """The `size` strings a cursor holds; None without one."""
    if not cursor:
        return None
    try:
        key = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, orjson.JSONDecodeError):
        key = None
    if not isinstance(key, list) or len(key) != size or not all(isinstance(k, str) for k in key):
        raise ApiError(
            "VALIDATION_ERROR", "the page link is damaged: start from the first page",
            [{"loc": ["query", "after"], "msg": "not a page cursor", "type": "value_error"}],
        )  # fmt: skip
    return key


class Links:
    """A list page's query, for its paging links: the same filters, another cursor (and no
    notice: it was said once)."""

    def __init__(self, params: Mapping[str, str]) -> None:
        self._filters = {k: v for k, v in params.items() if k not in ("after", "done") and v}
        self._after = params.get("after")

    def get(self, name: str) -> str | None:
        return self._after if name == "after" else self._filters.get(name)

    @property
    def without_after(self) -> str:
        return urlencode(self._filters)

    def next(self, after: str) -> str:
        return urlencode({**self._filters, "after": after})
