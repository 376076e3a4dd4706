"""The chart README lists every value, and lists nothing that is not a value."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import yaml

from tests.support.helm import CHART


def documented() -> list[str]:
    readme = (CHART / "README.md").read_text()
    return re.findall(r"^\| `([A-Za-z0-9_.]+)` \|", readme, re.MULTILINE)


def undocumented(values: dict[str, Any], names: set[str], prefix: str = "") -> Iterator[str]:
    """Value paths the README misses; a documented map covers its keys."""
    for key, value in values.items():
        path = f"{prefix}{key}"
        if path in names:
            continue
        if isinstance(value, dict) and value:
            yield from undocumented(value, names, f"{path}.")
        else:
            yield path


def lookup(values: dict[str, Any], path: str) -> bool:
    node: Any = values
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def test_readme_lists_every_value() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    names = documented()
    assert len(names) == len(set(names)), "a value is listed twice"
    assert list(undocumented(values, set(names))) == []
    assert [name for name in names if not lookup(values, name)] == []
    # The config block is documented key by key, not as one map.
    assert "config" not in names and "config.sink.kafka" not in names


def test_the_check_finds_a_missing_value() -> None:
    values = {"a": {"b": 1, "c": {"d": []}}, "e": {}}
    assert list(undocumented(values, {"a.b"})) == ["a.c.d", "e"]
    assert list(undocumented(values, {"a", "e"})) == []
