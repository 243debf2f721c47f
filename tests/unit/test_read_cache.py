"""The read cache's in-process level: bounded by entries and bytes, least recently used first
out; keys carry the projection position, so a moved projection never meets an old entry."""

from __future__ import annotations

import asyncio

from api.cache import ResponseCache


def test_the_least_recently_used_entry_goes_first_when_a_bound_is_reached() -> None:
    async def scenario() -> None:
        cache = ResponseCache(None, "test", max_bytes=10, max_entries=2)
        await cache.put("a", b"1234")
        await cache.put("b", b"1234")
        assert await cache.get("a") == b"1234"  # now "b" is the least recently used
        await cache.put("c", b"1234")
        assert await cache.get("b") is None
        assert await cache.get("a") == b"1234"
        await cache.put("d", b"1234567")  # 4 + 4 + 7 bytes > 10: "c" then "a" go
        assert await cache.get("c") is None
        assert await cache.get("a") is None
        assert await cache.get("d") == b"1234567"
        await cache.put("huge", b"x" * 11)  # larger than the whole budget: not kept
        assert await cache.get("huge") is None
        assert await cache.get("d") == b"1234567"

    asyncio.run(scenario())


def test_keys_differ_by_kind_position_query_and_generation() -> None:
    key = ResponseCache.key
    keys = {
        key("products", 7, b"/p?page=1", 0),
        key("products", 8, b"/p?page=1", 0),
        key("products", 7, b"/p?page=2", 0),
        key("product", 7, b"/p?page=1", 0),
        key("products", 7, b"/p?page=1", 1),  # after a rebuild, at the same position
    }
    assert len(keys) == 5
