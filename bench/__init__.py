"""Benchmarks of GameDay and its stack: ``python -m bench`` (``make bench``).

Each module measures one thing and returns plain JSON-able dicts; :mod:`bench.run_all`
runs them, prints one table (:mod:`bench.table`) and writes the raw figures to
``bench/results/<stamp>/`` (git-ignored). Metrics come from :mod:`gameday.metrics`, the
same functions the GameDay flow uses, so bench and flow agree on every definition.
"""
