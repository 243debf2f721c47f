"""The demo catalog: `prod_1` … `prod_50`, so the seed's load test (which orders `prod_1`
at 29.99) runs against a fresh ledger."""

from __future__ import annotations

from ledger.application import Ledger
from ledger.commands import CreateProduct
from ledger.domain.errors import ConflictError

CATEGORIES = ("books", "games", "kitchen", "garden", "music")
DEMO_SIZE = 50
AMPLE_STOCK = 1_000_000


def demo_products() -> list[CreateProduct]:
    products = []
    for n in range(1, DEMO_SIZE + 1):
        category = CATEGORIES[(n - 1) % len(CATEGORIES)]
        products.append(
            CreateProduct(
                product_id=f"prod_{n}",
                name=f"Demo {category.title()} Item {n}",
                description=f"A sample {category} product for trying the ledger out.",
                price=2999 if n == 1 else 499 + 250 * n,
                category=category,
                tags=(category, "demo"),
                images=(f"https://example.com/images/prod_{n}.png",),
                stock=AMPLE_STOCK if n == 1 else 100 + 10 * n,
            )
        )
    return products


def seed_demo(ledger: Ledger) -> int:
    """Creates the demo products that do not exist yet; returns how many it created."""
    created = 0
    for command in demo_products():
        try:
            ledger.create_product(command)
            created += 1
        except ConflictError:
            continue
    return created
