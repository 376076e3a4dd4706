"""The HTTP endpoints: ``/metrics``, ``/livez``, ``/healthz``, ``/readyz``, ``/status``.

Probes differ on purpose: ``/livez`` only proves the event loop answers (a restart would
not help anything else); ``/healthz`` also fails when a stage died for good; ``/readyz``
needs the state loaded and the sink connected, so Kubernetes holds traffic and rollouts
until the service can really work.
"""

from __future__ import annotations

import socket

from aiohttp import web
from prometheus_client.aiohttp import make_aiohttp_handler

from mrtfeed.observe.metrics import ServiceMetrics
from mrtfeed.observe.status import ServiceStatus

__all__ = ["ALL_INTERFACES", "HttpServer", "make_app"]

ALL_INTERFACES = ""
"""``server.host`` value: every interface, IPv4 and IPv6 (as Go's ``:9180``)."""


def make_app(metrics: ServiceMetrics, status: ServiceStatus) -> web.Application:
    async def livez(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def healthz(_: web.Request) -> web.Response:
        if status.fatal is not None:
            return web.Response(status=503, text=f"fatal: {status.fatal}\n")
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        if status.ready:
            return web.Response(text="ready\n")
        reasons = []
        if not status.state_loaded:
            reasons.append("state not loaded")
        if not status.sink_ready():
            reasons.append(f"{status.sink_type} sink not ready")
        if status.stopping:
            reasons.append("stopping")
        if status.fatal is not None:
            reasons.append(f"fatal: {status.fatal}")
        return web.Response(status=503, text="not ready: " + ", ".join(reasons) + "\n")

    async def status_json(_: web.Request) -> web.Response:
        return web.json_response(status.to_json())

    # Read at each scrape: set only by /readyz, it said 1 long after the sink failed
    # wherever nothing probed /readyz (Docker, systemd).
    metrics.sink_ready.set_function(lambda: 1.0 if status.sink_ready() else 0.0)
    app = web.Application()
    app.router.add_get("/metrics", make_aiohttp_handler(metrics.registry))
    app.router.add_get("/livez", livez)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/status", status_json)
    return app


class HttpServer:
    """The endpoints on ``host:port`` (port 0 picks a free port, see :attr:`port`).

    ``host`` :data:`ALL_INTERFACES` listens on one dual-stack IPv6 socket, so the probes
    of IPv4-only, IPv6-only and dual-stack clusters all reach it on one port (asyncio's
    own "all interfaces" opens one socket a family, with two different ports for port
    0). A kernel without IPv6 gets an IPv4 socket instead.
    """

    def __init__(
        self, metrics: ServiceMetrics, status: ServiceStatus, host: str, port: int
    ) -> None:
        self.app = make_app(metrics, status)
        self.host = host
        self.port = port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)
        await self._runner.setup()
        site: web.BaseSite
        if self.host == ALL_INTERFACES:
            site = web.SockSite(self._runner, _dual_stack_socket(self.port))
        else:
            site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def _dual_stack_socket(port: int) -> socket.socket:
    try:
        sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:  # IPv6 not compiled in or disabled in this kernel
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        address: tuple[str, int] = ("0.0.0.0", port)
    else:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        address = ("::", port)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
    except OSError:
        sock.close()
        raise
    return sock
