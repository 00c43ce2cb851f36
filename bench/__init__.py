"""evo-relay's benchmark harness: ``make bench`` runs :mod:`bench.run`."""
