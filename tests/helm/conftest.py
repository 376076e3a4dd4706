"""Fixtures for the chart tests: the pinned helm and the ci/ value scenarios."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.helm import CHART, Helm, helm_binary

SCENARIOS = {path.name.removesuffix("-values.yaml"): path for path in (CHART / "ci").glob("*.yaml")}


@pytest.fixture(scope="session")
def helm() -> Helm:
    binary = helm_binary()
    if not binary.is_file():
        pytest.fail(f"{binary} is missing: run `bash tests/support/helm/ci.sh` first")
    return Helm(binary)


@pytest.fixture(params=sorted(SCENARIOS))
def scenario(request: pytest.FixtureRequest) -> Path:
    """Each ci/*-values.yaml file, one test per scenario."""
    path: Path = SCENARIOS[request.param]
    return path
