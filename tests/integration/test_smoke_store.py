"""The event store round-trips every aggregate through real PostgreSQL."""

from ledger.application import Ledger
from ledger.commands import CreateProduct


def test_product_round_trip(ledger: Ledger) -> None:
    result = ledger.create_product(
        CreateProduct(name="A", description="d", price=100, category="c", stock=3, product_id="prod_x")
    )
    assert result.position >= 1
    product = ledger.repository.get("prod_x")
    assert product.on_hand == 3
