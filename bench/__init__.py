"""The janusflux benchmark harness: ``python -m bench.run`` (``--quick`` for a smoke run). See BENCHMARKS.md."""
