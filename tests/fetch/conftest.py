"""Fixtures for the fetcher tests: loopback archive servers and a virtual clock."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

# The package is not installed in the venv, and helpers are imported as
# ``fetch.archive_server`` whatever pytest's import mode.
for _p in (Path(__file__).resolve().parents[2] / "service", Path(__file__).resolve().parents[1]):
    if str(_p) not in sys.path:
        sys.path.insert(0, str(_p))

from fetch.archive_server import ArchiveServer  # noqa: E402


@pytest.fixture
async def rv_server() -> AsyncIterator[ArchiveServer]:
    async with ArchiveServer("apache") as server:
        yield server


@pytest.fixture
async def ris_server() -> AsyncIterator[ArchiveServer]:
    async with ArchiveServer("nginx") as server:
        yield server
