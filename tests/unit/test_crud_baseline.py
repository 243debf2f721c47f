"""The CRUD baseline (bench.crud) hashes passwords as the ledger does, and the bench's seed mix
is the seed locustfile's."""

from __future__ import annotations

from bench import mix
from bench.crud import security
from ledger import passwords


def test_argon2_parameters_are_the_ledgers() -> None:
    ours, theirs = security.hasher, passwords._hasher
    assert (ours.time_cost, ours.memory_cost, ours.parallelism, ours.type) == (
        theirs.time_cost,
        theirs.memory_cost,
        theirs.parallelism,
        theirs.type,
    )
    assert security.verify_password(passwords.hash_password("Correct-Horse-9"), "Correct-Horse-9")


def test_the_mix_reads_the_locustfiles_weights_and_order() -> None:
    seed = mix.seed_mix()
    assert seed.weights == {"view_products": 3, "view_product_detail": 2, "create_order": 1}
    assert seed.order["items"] == [{"product_id": "prod_1", "quantity": 2, "price": 29.99}]
    assert '"Bearer " .. token' in mix.lua("a-token", seed)
