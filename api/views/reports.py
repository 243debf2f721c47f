"""Moved to `reads.reports`; these names stay importable from here."""

from __future__ import annotations

from reads.reports import inventory, order_status_counts, sales, top_products

__all__ = ["inventory", "order_status_counts", "sales", "top_products"]
