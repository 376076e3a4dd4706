"""pytest plugin: one real Apache Kafka broker per test session.

Why session scope: a KRaft broker takes a few seconds to format and start, far
longer than any one test, and tests isolate themselves with unique topic,
group and transactional ids instead.  Why no skip when Java or Maven is
missing: a skipped Kafka test looks green while proving nothing, so a machine
that cannot run the broker must fail loudly and say what to install.

Registered from ``tests/conftest.py``.  Tests ask for ``kafka_broker`` and use
``kafka_broker.bootstrap`` as ``bootstrap_servers``; chaos tests may call
``kafka_broker.restart()`` (same port, same data).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kafka.broker import (
    KAFKA_VERSION,
    Broker,
    BrokerError,
    fetch_jars,
    start_broker,
)

__all__ = ["kafka_broker"]


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A running single-node KRaft broker on 127.0.0.1 for the whole session.

    The returned :class:`~tests.support.kafka.broker.Broker` has ``bootstrap``
    (``"127.0.0.1:PORT"``), ``restart(hard=False)`` (``hard=True`` crashes
    it with SIGKILL; see the caveat in tests/support/kafka/README.md),
    ``stop()``/``start()``, ``batches(topic, partition)`` (what the broker
    stored) and ``server_log`` (the broker's log file, worth reading when a
    test fails).  Its methods block: call them via ``asyncio.to_thread`` from
    async tests.  A test that stops the broker must start it again before it
    returns.
    """
    problem = ""
    try:
        fetch_jars(KAFKA_VERSION)
        broker = start_broker(tmp_path_factory.mktemp("kafka"))
    except BrokerError as exc:
        problem = str(exc)
    if problem:
        pytest.fail(
            f"cannot run the real Kafka {KAFKA_VERSION} broker the kafka tests need "
            f"(Java 17+ and Maven must be installed; tests/support/kafka/ci.sh "
            f"fetches the jars): {problem}",
            pytrace=False,
        )
    try:
        yield broker
    finally:
        broker.stop()
