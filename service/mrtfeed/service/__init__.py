"""The long-running service: orchestration of fetcher, parser pool and sink.

:class:`~mrtfeed.service.app.Service` wires the stages; each stage module here is
testable alone (pool, processor, quarantine, alerts, sinks, wiring, scale-out).
"""
