"""Programs the sections start in processes of their own (`python -m bench.children.NAME`)."""
