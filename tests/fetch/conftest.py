"""Fixtures for the fetcher tests: loopback archive servers and a virtual clock."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The package is not installed in the venv. The helpers beside this file are imported
# as ``tests.fetch.*``, like every other test helper (tests/service imports them too),
# so each is loaded once and mypy resolves them.
_SERVICE = Path(__file__).resolve().parents[2] / "service"
if str(_SERVICE) not in sys.path:
    sys.path.insert(0, str(_SERVICE))

from tests.fetch.archive_server import ArchiveServer  # noqa: E402


@pytest.fixture
async def rv_server() -> AsyncIterator[ArchiveServer]:
    async with ArchiveServer("apache") as server:
        yield server


@pytest.fixture
async def ris_server() -> AsyncIterator[ArchiveServer]:
    async with ArchiveServer("nginx") as server:
        yield server
