"""Suite-wide pytest set-up: the Kafka broker fixture, and the fuzz tests' own worker.

The fuzz tests (100,000 mutated records, about 4 minutes of one core) are CPU-bound
and share nothing with the rest. Under ``pytest -n 2 --dist loadgroup`` (the README's
test command) one worker runs them while the other runs everything else in file
order, as a plain ``pytest`` would: one Kafka broker, no test running beside another
that could disturb it but the fuzz tests. The whole suite took 1,012 s in one
process and takes 624 s so (2026-12-07, 2 cores).
"""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.support.kafka_fixture"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        group = "fuzz" if item.path.name == "test_fuzz.py" else "suite"
        item.add_marker(pytest.mark.xdist_group(group))
