"""The baseline for the write path: the plain `eventsourcing` pattern.

One `Application` with the library's defaults (no aggregate cache, no snapshots, default pool,
the library creating its own tables), the same domain aggregates, and one `Application.save`
per command, retried on optimistic-concurrency conflicts. This is what the ledger's write side
would be without its own tuning. The shipping address is sealed as the ledger seals it (the
same events), with one data key held in memory: the plain pattern has no key store."""

from __future__ import annotations

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.application import Application
from eventsourcing.persistence import IntegrityError
from psycopg.conninfo import conninfo_to_dict

from bench.database import BENCH_STOCK
from ledger import contract, personal
from ledger.commands import PlaceOrder
from ledger.demo import demo_products
from ledger.domain import Product, checkout

MAX_ATTEMPTS = 30
_DATA_KEY = AESGCM.generate_key(256)


class PlainShop(Application[str]):
    """The shop as the library's documentation would write it."""

    def place_order(self, cmd: PlaceOrder, order_id: str) -> None:
        address = cmd.shipping_address.as_event_data()
        sealed = personal.seal(_DATA_KEY, cmd.customer_id, "shipping_address", address)
        for _ in range(MAX_ATTEMPTS):
            order, products = checkout(
                order_id,
                customer_id=cmd.customer_id,
                items=cmd.items,
                load=self._product,
                currency="USD",
                shipping_address=contract.Sealed(sealed),
                payment_method=cmd.payment_method,
            )
            try:
                self.save(order, *products)
                return
            except IntegrityError:
                continue
        raise RuntimeError("too many conflicts")

    def _product(self, product_id: str) -> Product:
        product: object = self.repository.get(product_id)
        assert isinstance(product, Product)
        return product

    def seed(self) -> None:
        for cmd in demo_products():
            assert cmd.product_id is not None
            product = Product.create(
                cmd.product_id,
                name=cmd.name,
                description=cmd.description,
                price=cmd.price,
                currency="USD",
                category=cmd.category,
                tags=list(cmd.tags),
                images=list(cmd.images),
                on_hand=BENCH_STOCK,
            )
            self.save(product)


def plain_env(url: str) -> dict[str, str]:
    """Only what the library needs to reach the database (text ids are the ledger's ids)."""
    params = conninfo_to_dict(url)
    return {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "ORIGINATOR_ID_TYPE": "text",
        "POSTGRES_DBNAME": str(params.get("dbname")),
        "POSTGRES_HOST": str(params.get("host") or "localhost"),
        "POSTGRES_PORT": str(params.get("port") or "5432"),
        "POSTGRES_USER": str(params.get("user") or "postgres"),
        "POSTGRES_PASSWORD": str(params.get("password") or ""),
    }
