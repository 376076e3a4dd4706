"""The pinned helm binary and a small runner for the chart tests.

``ci.sh`` beside this file builds helm at the version in ``VERSION`` into the
cache directory; :func:`helm_binary` finds it there. The chart tests fail, not
skip, when it is missing: a green run must mean the chart was really rendered.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
CHART = REPO / "helm" / "mrtfeed"
VERSION = (HERE / "VERSION").read_text().strip()

# What a cluster with the Prometheus Operator's CRDs reports; passed to
# `helm template` so the Capabilities-guarded templates render.
MONITORING_API_VERSIONS = (
    "monitoring.coreos.com/v1/ServiceMonitor",
    "monitoring.coreos.com/v1/PrometheusRule",
)


def helm_binary() -> Path:
    """Where ci.sh installs helm (same cache rule as the Kafka broker's jars)."""
    cache = Path(os.environ.get("MRTFEED_CACHE", Path.home() / ".cache" / "mrtfeed"))
    return cache / f"helm-{VERSION}" / "helm"


class HelmError(Exception):
    """helm exited non-zero; ``stderr`` holds its message."""

    def __init__(self, args: Sequence[str], stderr: str) -> None:
        super().__init__(f"helm {' '.join(args)} failed:\n{stderr}")
        self.stderr = stderr


@dataclass
class Helm:
    """Runs the pinned helm on the chart; renders are cached per argument list."""

    binary: Path
    chart: Path = CHART
    kube_version: str = "1.37.0"
    _cache: dict[tuple[str, ...], list[dict[str, Any]]] = field(default_factory=dict)

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.binary), *args],
            capture_output=True,
            text=True,
            check=False,
            # No kubeconfig is read and no cluster is contacted: HOME and the
            # helm directories point at nothing of the user's.
            env={
                "PATH": os.environ.get("PATH", ""),
                "HOME": "/nonexistent",
                "HELM_CACHE_HOME": "/nonexistent/cache",
                "HELM_CONFIG_HOME": "/nonexistent/config",
                "HELM_DATA_HOME": "/nonexistent/data",
            },
        )

    def template_args(
        self,
        values: Sequence[Path] = (),
        sets: Sequence[str] = (),
        api_versions: Sequence[str] = MONITORING_API_VERSIONS,
        chart: Path | None = None,
    ) -> list[str]:
        args = ["template", "mrtfeed", str(chart or self.chart), "--namespace", "bgp"]
        args += ["--kube-version", self.kube_version]
        for path in values:
            args += ["--values", str(path)]
        for item in sets:
            args += ["--set", item]
        for api in api_versions:
            args += ["--api-versions", api]
        return args

    def template(
        self,
        values: Sequence[Path] = (),
        sets: Sequence[str] = (),
        api_versions: Sequence[str] = MONITORING_API_VERSIONS,
        chart: Path | None = None,
    ) -> list[dict[str, Any]]:
        """The rendered objects (empty documents dropped)."""
        args = self.template_args(values, sets, api_versions, chart)
        key = tuple(args)
        if key not in self._cache:
            done = self.run(*args)
            if done.returncode != 0:
                raise HelmError(args, done.stderr)
            self._cache[key] = [doc for doc in yaml.safe_load_all(done.stdout) if doc]
        return self._cache[key]

    def template_error(self, values: Sequence[Path] = (), sets: Sequence[str] = ()) -> str:
        """helm's message for values that must be refused; fails if they render."""
        args = self.template_args(values, sets)
        done = self.run(*args)
        if done.returncode == 0:
            raise AssertionError(f"helm {' '.join(args)} rendered values it should refuse")
        return done.stderr

    def notes(self, values: Sequence[Path], tmp: Path, api_versions: Sequence[str] = ()) -> str:
        """NOTES.txt as `helm install` would print it.

        `helm template` skips NOTES.txt and `helm install --dry-run` needs a
        cluster, so a copy of the chart wraps the same template in a ConfigMap.
        """
        copy = tmp / "chart"
        shutil.copytree(self.chart, copy)
        notes = (copy / "templates" / "NOTES.txt").read_text()
        (copy / "templates" / "_notes_for_test.tpl").write_text(
            '{{- define "test.notes" -}}\n' + notes + "{{- end -}}\n"
        )
        (copy / "templates" / "notes-for-test.yaml").write_text(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\n"
            'data:\n  text: {{ include "test.notes" . | toJson }}\n'
        )
        docs = self.template(values, api_versions=api_versions, chart=copy)
        [notes_map] = [
            d for d in docs if d["kind"] == "ConfigMap" and d["metadata"]["name"] == "notes"
        ]
        text: str = notes_map["data"]["text"]
        return text


def by_kind(docs: Sequence[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]


def one(docs: Sequence[dict[str, Any]], kind: str) -> dict[str, Any]:
    found = by_kind(docs, kind)
    assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
    return found[0]
