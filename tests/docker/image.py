"""What the Dockerfile promises about the image, read with dockerfile-parse.

The chart tests compare the pod spec with these facts (user, port, probe
path, config file), so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import io
import json
import re
import shlex
from dataclasses import dataclass
from functools import cache
from typing import Any

from dockerfile_parse import DockerfileParser

from tests.support.helm import REPO

DOCKERFILE = REPO / "Dockerfile"


@cache
def parser() -> DockerfileParser:
    # The parser reads its file object on every property access, so it gets one
    # that stays open (and no path: given a path it would look for a directory).
    return DockerfileParser(fileobj=io.BytesIO(DOCKERFILE.read_bytes()))


def final_stage() -> list[dict[str, Any]]:
    """Instructions after the last FROM."""
    structure: list[dict[str, Any]] = parser().structure
    starts = [i for i, item in enumerate(structure) if item["instruction"] == "FROM"]
    return structure[starts[-1] :]


def values(instruction: str, stage: list[dict[str, Any]] | None = None) -> list[str]:
    return [
        item["value"] for item in (stage or final_stage()) if item["instruction"] == instruction
    ]


@dataclass(frozen=True)
class Image:
    uid: int
    gid: int
    port: int
    entrypoint: list[str]
    cmd: list[str]
    healthcheck_url: str

    @property
    def config_file(self) -> str:
        return self.cmd[self.cmd.index("--config") + 1]


@cache
def image() -> Image:
    [user] = values("USER")
    uid, gid = (int(part) for part in user.split(":"))
    [expose] = values("EXPOSE")
    [entrypoint] = values("ENTRYPOINT")
    [cmd] = values("CMD")
    [healthcheck] = values("HEALTHCHECK")
    url = re.search(r"http://[^'\"\s]+", healthcheck)
    assert url, healthcheck
    return Image(
        uid=uid,
        gid=gid,
        port=int(shlex.split(expose)[0]),
        entrypoint=json.loads(entrypoint),
        cmd=json.loads(cmd),
        healthcheck_url=url.group(0),
    )
