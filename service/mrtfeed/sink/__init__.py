"""Sinks: where committed batches of events go (JSON lines, Kafka)."""
