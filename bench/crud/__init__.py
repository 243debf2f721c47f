"""The CRUD baseline: the seed's own Phase 1 design (docs roadmap: FastAPI, async SQLAlchemy 2
over asyncpg, tables for users, products, orders and their items), with the same routes,
password hashing and access tokens as the ledger's API, so the bench can put the two side by
side on the same requests. It is a yardstick, not a second product: no migrations, no cache."""
