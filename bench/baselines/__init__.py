"""What the ledger is compared with: the library used plainly (plain, stock), pgbench on its
write path, and a bare FastAPI app returning the same JSON."""
