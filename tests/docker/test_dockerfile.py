"""The Dockerfile, parsed and linted without building it (no docker engine in CI)."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.docker.image import DOCKERFILE, final_stage, image, parser, values
from tests.support.helm import REPO

HADOLINT = Path(sys.executable).parent / "hadolint"


def test_hadolint_is_clean() -> None:
    done = subprocess.run(
        [str(HADOLINT), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout == ""


def test_hadolint_would_catch_a_regression(tmp_path: Path) -> None:
    """The lint above can fail: a latest-tag base and a root user are reported."""
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nUSER root\nCMD python\n")
    done = subprocess.run(
        [str(HADOLINT), "--no-color", str(bad)], capture_output=True, text=True, check=False
    )
    assert done.returncode != 0
    assert "DL3007" in done.stdout and "DL3002" in done.stdout


def test_base_images_are_pinned() -> None:
    images = parser().parent_images
    assert len(images) == 2, "multi-stage: a wheel-building stage and the runtime stage"
    for name in images:
        if "@sha256:" in name:
            assert re.search(r"@sha256:[0-9a-f]{64}$", name), name
        else:
            # An exact release tag (python:3.13.11-slim-bookworm), never a moving
            # one such as python:3.13-slim or latest.
            assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-[a-z]+", name), name


def test_wheels_are_built_in_the_first_stage_and_installed_offline() -> None:
    structure = parser().structure
    froms = [item["value"] for item in structure if item["instruction"] == "FROM"]
    assert froms[0].endswith(" AS build")
    runs = values("RUN", structure[: structure.index(final_stage()[0])])
    assert any("pip wheel" in run and "--wheel-dir /wheels" in run for run in runs)
    [install] = [run for run in values("RUN") if "pip install" in run]
    assert "from=build" in install and "--no-index" in install and "--no-cache-dir" in install


def test_runs_as_a_numeric_non_root_user() -> None:
    assert image().uid == 10001 and image().gid == 10001
    [user] = values("USER")
    assert re.fullmatch(r"\d+:\d+", user)
    # USER comes after every RUN, so nothing of the runtime runs as root later.
    stage = final_stage()
    last_run = max(i for i, item in enumerate(stage) if item["instruction"] == "RUN")
    assert stage.index(next(i for i in stage if i["instruction"] == "USER")) > last_run


def test_tini_is_pid_1_in_exec_form() -> None:
    [raw] = values("ENTRYPOINT")
    assert raw.startswith("["), "exec form, so tini and not a shell is PID 1"
    assert image().entrypoint == ["/usr/bin/tini", "--", "mrtfeed"]
    assert image().cmd == ["run", "--config", "/etc/mrtfeed/config.yaml"]
    assert any("tini=" in run for run in values("RUN")), "tini comes from a pinned package"


def test_exposes_the_service_port() -> None:
    assert image().port == 9180


def test_healthcheck_probes_liveness_with_python() -> None:
    [healthcheck] = values("HEALTHCHECK")
    assert "CMD [" in healthcheck, "exec form"
    assert image().healthcheck_url == "http://127.0.0.1:9180/livez"
    assert "curl" not in healthcheck and "urllib.request" in healthcheck
    # The probe command compiles as Python.
    code = json.loads(healthcheck[healthcheck.index("[") :])
    assert code[:2] == ["python", "-c"]
    compile(code[2], "<healthcheck>", "exec")


def test_oci_labels() -> None:
    labels = parser().labels
    for key in ("title", "description", "version", "revision", "licenses", "base.name"):
        assert labels.get(f"org.opencontainers.image.{key}"), key
    assert labels["org.opencontainers.image.licenses"] == "BSD-2-Clause"
    assert labels["org.opencontainers.image.base.name"] == parser().parent_images[-1]


def test_image_version_follows_the_package() -> None:
    pyproject = (REPO / "pyproject.toml").read_text()
    version = re.search(r'^version = "([^"]+)"', pyproject, re.MULTILINE)
    assert version
    assert parser().labels["org.opencontainers.image.version"] == version.group(1)


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins; '!' re-includes."""
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        body = pattern.lstrip("!").rstrip("/")
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        if any(fnmatch.fnmatchcase(p, body) for p in prefixes) or fnmatch.fnmatchcase(
            path, body.replace("**/", "*")
        ):
            ignored = not negate
    return ignored


@pytest.fixture(scope="module")
def dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_keeps_the_context_small(dockerignore: list[str]) -> None:
    for path in (".venv/bin/python", ".git/HEAD", "tests/conftest.py", "helm/mrtfeed/Chart.yaml"):
        assert _ignored(path, dockerignore), path
    assert _ignored("service/mrtfeed/__pycache__/config.cpython-311.pyc", dockerignore)


def test_dockerignore_keeps_what_the_build_copies(dockerignore: list[str]) -> None:
    copied = []
    for item in parser().structure:
        if item["instruction"] == "COPY" and "--from" not in item["value"]:
            copied += shlex.split(item["value"])[:-1]
    assert copied == ["pyproject.toml", "README.md", "service"]
    for source in copied:
        assert not _ignored(source, dockerignore), source
    assert not _ignored("service/mrtfeed/config.py", dockerignore)
