"""Observability: Prometheus metrics, the service status, and the HTTP endpoints."""

from mrtfeed.observe.metrics import ServiceMetrics
from mrtfeed.observe.server import HttpServer
from mrtfeed.observe.status import ServiceStatus

__all__ = ["HttpServer", "ServiceMetrics", "ServiceStatus"]
