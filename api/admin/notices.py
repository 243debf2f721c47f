"""What a page says after an action succeeded: the action redirects to the page with
`?done=<key>`, and the page shows the key's sentence (only known keys: nothing a link
carries is echoed)."""

from __future__ import annotations

NOTICES: dict[str, str] = {
    "signed-in": "Signed in.",
    "product-created": "Product created.",
    "product-updated": "Product details saved.",
    "price-changed": "Price changed.",
    "stock-changed": "Stock changed.",
    "product-discontinued": "Product discontinued: no longer listed or orderable.",
    "order-confirm": "Order confirmed.",
    "order-process": "Order processing started.",
    "order-ship": "Order shipped.",
    "order-deliver": "Order delivered.",
    "order-cancel": "Order cancelled; its stock was released.",
    "order-refund": "Order refunded.",
    "user-erased": "The customer was erased: their orders stay, shown as [erased].",
    "dead-letters-retried": "The parked events were applied again (see what is still parked).",
    "rebuild-started": "Rebuild started.",
}


def notice(key: str | None) -> str | None:
    return NOTICES.get(key) if key else None
