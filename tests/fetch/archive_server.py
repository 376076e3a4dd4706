"""A loopback aiohttp archive server for tests, with fault injection.

Serves an in-memory tree whose file bodies are real MRT files from
``shared/data/mrt`` (never copied into the repo), with directory index pages
in the real styles of the archives: Apache autoindex tables (Route Views) or
nginx ``<pre>`` listings (RIS). Index pages carry an ETag and honour
``If-None-Match``. JSON documents (collector lists) can be served too.

Fault knobs (:meth:`ArchiveServer.inject`): an HTTP status (404, 500, ...),
429/503 with ``Retry-After``, a body that stalls until an event is set, a
connection reset, a body cut short after N bytes. Every request is recorded.

Typical use::

    async with ArchiveServer("apache") as rv:
        rv.put(routeviews_path("route-views.jinx", Kind.UPDATES, t), mrt_bytes(RV_UPDATES[0]))
        rv.inject(path, Fault.truncate(keep=100))
        ... rv.base_url ...
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from functools import cache
from pathlib import Path
from typing import Any, Literal

from aiohttp import web

from mrtfeed.archive.model import Kind

__all__ = [
    "MRT_DATA",
    "RIS_BVIEW",
    "RIS_UPDATES",
    "RV_RIBS",
    "RV_UPDATES",
    "TRUNCATED_BZ2",
    "ArchiveServer",
    "Fault",
    "Request",
    "mrt_bytes",
    "ris_path",
    "routeviews_path",
]

# The repo's sibling ``shared/`` folder: ``../shared/data/mrt/`` from the repo root.
MRT_DATA = (Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "mrt").resolve()

# Small real files of each kind (bodies only; the served names are synthetic).
RV_UPDATES = (
    "routeviews.route-views.jinx.updates.1401493500.bz2",
    "updates.bz2",
    "sydney.updates.20220601.0230.bz2",
)
RV_RIBS = ("rib.20161101.0000_pick.bz2", "rib.20030503.1429.bz2")
RIS_UPDATES = (
    "ris.rrc06.updates.1427846400.gz",
    "updates.20020722.2238.gz",
    "updates.20100722.2015.gz",
    "updates.nlri_mask_trailing_bits.gz",
)
RIS_BVIEW = ("bview.ipv4_unicast_add_path.gz", "bview.64k_stream_overflow.gz")
# Upstream excerpt: the first MiB of a bz2 RIB, cut mid-stream.
TRUNCATED_BZ2 = "rib.20080501.0644_firstMB.bz2"


@cache
def mrt_bytes(name: str) -> bytes:
    """Content of a file in shared/data/mrt (read-only, cached)."""
    return (MRT_DATA / name).read_bytes()


def routeviews_path(collector: str, kind: Kind, t: datetime, *, legacy_root: bool = False) -> str:
    """``<collector>/bgpdata/YYYY.MM/{RIBS,UPDATES}/{rib,updates}.YYYYMMDD.HHMM.bz2``.

    ``legacy_root`` gives the pre-2026 route-views2 form ``bgpdata/...``.
    """
    folder, prefix = ("RIBS", "rib") if kind is Kind.RIBS else ("UPDATES", "updates")
    root = "bgpdata" if legacy_root else f"{collector}/bgpdata"
    return f"{root}/{t:%Y.%m}/{folder}/{prefix}.{t:%Y%m%d.%H%M}.bz2"


def ris_path(collector: str, kind: Kind, t: datetime) -> str:
    prefix = "bview" if kind is Kind.RIBS else "updates"
    return f"{collector}/{t:%Y.%m}/{prefix}.{t:%Y%m%d.%H%M}.gz"


@dataclass
class Fault:
    """One injected misbehaviour; applies to the next ``times`` matching requests."""

    kind: Literal["status", "stall", "reset", "truncate", "flip"]
    status: int = 500
    headers: dict[str, str] = field(default_factory=dict)
    keep: int = 0
    gate: asyncio.Event | None = None
    times: int = 1  # -1: forever
    methods: frozenset[str] = frozenset({"GET", "HEAD"})

    @classmethod
    def status_code(cls, status: int, *, times: int = 1, **headers: str) -> Fault:
        return cls("status", status=status, headers=dict(headers), times=times)

    @classmethod
    def too_many(cls, retry_after: int | str, *, times: int = 1) -> Fault:
        return cls("status", status=429, headers={"Retry-After": str(retry_after)}, times=times)

    @classmethod
    def stall(cls, gate: asyncio.Event, *, keep: int = 0, times: int = 1) -> Fault:
        """Send headers and ``keep`` bytes, then wait for ``gate`` (a slow body)."""
        return cls("stall", gate=gate, keep=keep, times=times, methods=frozenset({"GET"}))

    @classmethod
    def reset(cls, *, times: int = 1) -> Fault:
        return cls("reset", times=times)

    @classmethod
    def flip(cls, at: int, *, times: int = 1) -> Fault:
        """Send the whole body with the byte at offset ``at`` inverted (a bad proxy)."""
        return cls("flip", keep=at, times=times, methods=frozenset({"GET"}))

    @classmethod
    def truncate(cls, keep: int, *, times: int = 1) -> Fault:
        """Announce the full Content-Length but close after ``keep`` bytes."""
        return cls("truncate", keep=keep, times=times, methods=frozenset({"GET"}))


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0  # 0 while in progress


class ArchiveServer:
    """Serve an archive tree on 127.0.0.1 in ``apache`` (Route Views) or ``nginx`` style."""

    def __init__(self, style: Literal["apache", "nginx"] = "apache") -> None:
        self.style = style
        self.files: dict[str, bytes] = {}
        self.mtimes: dict[str, datetime] = {}
        self.documents: dict[str, Any] = {}
        self.faults: dict[str, list[Fault]] = defaultdict(list)
        self.requests: list[Request] = []
        self.inflight = 0
        self.max_inflight = 0
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- tree -----------------------------------------------------------------

    def put(self, path: str, data: bytes, mtime: datetime | None = None) -> None:
        """Add or replace a file (e.g. a file that grows between listings)."""
        self.files[path.lstrip("/")] = data
        self.mtimes[path.lstrip("/")] = mtime or datetime(2020, 1, 1, tzinfo=UTC)

    def put_series(
        self,
        paths_and_samples: Iterable[tuple[str, str]],
    ) -> list[str]:
        """Add files whose bodies are the named shared MRT samples."""
        out = []
        for path, sample in paths_and_samples:
            self.put(path, mrt_bytes(sample))
            out.append(path.lstrip("/"))
        return out

    def remove(self, path: str) -> None:
        self.files.pop(path.lstrip("/"), None)

    def put_json(self, path: str, doc: Any) -> None:
        self.documents[path.lstrip("/")] = doc

    def inject(self, path: str, *faults: Fault) -> None:
        """Queue faults for requests to ``path`` (a file, a directory ``x/`` or JSON)."""
        self.faults[path.lstrip("/")].extend(faults)

    def count(self, path: str, method: str = "GET", status: int | None = None) -> int:
        p = "/" + path.lstrip("/")
        return sum(
            1
            for r in self.requests
            if r.path == p and r.method == method and (status is None or r.status == status)
        )

    # -- lifecycle ------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.1
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self.port = sockets[0].getsockname()[1]
        return self.base_url

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> ArchiveServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- serving --------------------------------------------------------------

    def _take_fault(self, path: str, method: str) -> Fault | None:
        queue = self.faults.get(path)
        if not queue:
            return None
        fault = queue[0]
        if method not in fault.methods:
            return None
        if fault.times > 0:
            fault.times -= 1
            if fault.times == 0:
                queue.pop(0)
        return fault

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        record = Request(request.method, request.path, dict(request.headers))
        self.requests.append(record)  # at arrival: stalled requests count too
        try:
            resp = await self._respond(request)
            record.status = resp.status
            return resp
        finally:
            self.inflight -= 1

    async def _respond(self, request: web.Request) -> web.StreamResponse:
        path = request.path.lstrip("/")
        fault = self._take_fault(path, request.method)
        if fault is not None and fault.kind == "status":
            return web.Response(status=fault.status, headers=fault.headers, text="fault\n")
        if fault is not None and fault.kind == "reset":
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=599)
        if fault is not None and fault.kind == "stall" and path not in self.files:
            assert fault.gate is not None
            await fault.gate.wait()  # a listing that does not answer
        if path in self.documents:
            return web.Response(
                text=json.dumps(self.documents[path]), content_type="application/json"
            )
        if path in self.files:
            return await self._file(request, path, fault)
        if path == "" or path.endswith("/"):
            page = self._index(path)
            if page is None:
                return web.Response(status=404, text="Not Found\n")
            etag = '"' + hashlib.sha1(page.encode()).hexdigest()[:16] + '"'
            if request.headers.get("If-None-Match") == etag:
                return web.Response(status=304, headers={"ETag": etag})
            return web.Response(text=page, content_type="text/html", headers={"ETag": etag})
        if any(p.startswith(path + "/") for p in self.files):
            raise web.HTTPMovedPermanently("/" + path + "/")
        return web.Response(status=404, text="Not Found\n")

    async def _file(
        self, request: web.Request, path: str, fault: Fault | None
    ) -> web.StreamResponse:
        data = self.files[path]
        headers = {"Last-Modified": format_datetime(self.mtimes[path], usegmt=True)}
        if request.method == "HEAD":
            return web.Response(headers={**headers, "Content-Length": str(len(data))})
        if fault is not None and fault.kind == "flip":
            data = data[: fault.keep] + bytes([data[fault.keep] ^ 0xFF]) + data[fault.keep + 1 :]
            fault = None
        if fault is None:
            return web.Response(body=data, headers=headers, content_type="application/octet-stream")
        resp = web.StreamResponse(headers=headers)
        resp.content_length = len(data)
        await resp.prepare(request)
        await resp.write(data[: fault.keep])
        if fault.kind == "stall":
            assert fault.gate is not None
            await fault.gate.wait()
            await resp.write(data[fault.keep :])
            await resp.write_eof()
            return resp
        # truncate: drop the connection with the body incomplete
        assert request.transport is not None
        request.transport.close()
        return resp

    # -- index pages ----------------------------------------------------------

    def _children(self, folder: str) -> list[tuple[str, bool, int, datetime]] | None:
        kids: dict[str, tuple[str, bool, int, datetime]] = {}
        found = folder == ""
        for p, data in self.files.items():
            if not p.startswith(folder):
                continue
            found = True
            rest = p[len(folder) :]
            head, sep, _ = rest.partition("/")
            if sep:
                kids.setdefault(head, (head, True, 0, self.mtimes[p]))
            else:
                kids[head] = (head, False, len(data), self.mtimes[p])
        for p in self.documents:
            if p.startswith(folder) and folder:
                found = True
        return sorted(kids.values()) if found else None

    def _index(self, folder: str) -> str | None:
        kids = self._children(folder)
        if kids is None:
            return None
        title = "/" + folder
        if self.style == "apache":
            return _apache(title.rstrip("/") or "/", kids)
        return _nginx(title, kids)


def _human(n: int) -> str:
    for unit, size in (("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)):
        if n >= size:
            return f"{round(n / size)}{unit}"
    return str(n)


def _apache(title: str, kids: list[tuple[str, bool, int, datetime]]) -> str:
    """Apache FancyIndexing table, as in the Route Views fixtures (exact byte sizes)."""
    rows = [
        '<tr><td valign="top"><img src="/icons/back.gif" alt="[PARENTDIR]"></td>'
        f'<td><a href="{title.rsplit("/", 1)[0] or "/"}/">Parent Directory</a>       </td>'
        '<td>&nbsp;</td><td align="right">  - </td><td>&nbsp;</td></tr>'
    ]
    for name, is_dir, size, mtime in kids:
        href = name + ("/" if is_dir else "")
        text = href if len(href) <= 23 else href[:20] + "..&gt;"
        size_text = "  - " if is_dir else f" {size} "
        icon = "folder.gif" if is_dir else "unknown.gif"
        rows.append(
            f'<tr><td valign="top"><img src="/icons/{icon}" alt="[   ]"></td>'
            f'<td><a href="{href}">{text}</a></td><td align="right">{mtime:%Y-%m-%d %H:%M}  </td>'
            f'<td align="right">{size_text}</td><td>&nbsp;</td></tr>'
        )
    return (
        '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 3.2 Final//EN">\n<html>\n <head>\n'
        f"  <title>Index of {title}</title>\n </head>\n <body>\n<h1>Index of {title}</h1>\n"
        '  <table>\n   <tr><th valign="top"><img src="/icons/blank.gif" alt="[ICO]"></th>'
        '<th><a href="?C=N;O=D">Name</a></th><th><a href="?C=M;O=A">Last modified</a></th>'
        '<th><a href="?C=S;O=A">Size</a></th><th><a href="?C=D;O=A">Description</a></th></tr>\n'
        '   <tr><th colspan="5"><hr></th></tr>\n'
        + "\n".join(rows)
        + '\n   <tr><th colspan="5"><hr></th></tr>\n</table>\n</body></html>\n'
    )


def _nginx(title: str, kids: list[tuple[str, bool, int, datetime]]) -> str:
    """nginx autoindex ``<pre>`` page with CRLF endings, as RIS serves it."""
    lines = ['<a href="../">../</a>']
    for name, is_dir, size, mtime in kids:
        href = name + ("/" if is_dir else "")
        pad = " " * max(1, 51 - len(href))
        size_text = "-" if is_dir else _human(size)
        lines.append(f'<a href="{href}">{href}</a>{pad}{mtime:%d-%b-%Y %H:%M}{size_text:>8}')
    body = "\r\n".join(lines)
    return (
        f"<html>\r\n<head><title>Index of {title}</title></head>\r\n"
        f'<body bgcolor="white">\r\n<h1>Index of {title}</h1><hr><pre>{body}\r\n'
        "</pre><hr></body>\r\n</html>\r\n"
    )


def every(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Times start, start+step, ... before end (helper for building series)."""
    out = []
    t = start
    while t < end:
        out.append(t)
        t += step
    return out
