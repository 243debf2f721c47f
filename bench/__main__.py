"""`python -m bench`: runs the suite (see bench.run)."""

from bench.run import main

main()
