"""Encoders: events to bytes (bgpdump -m lines, bgpscanner lines, JSON lines)."""

from mrtfeed.encode.base import Encoder, make_encoder

__all__ = ["Encoder", "make_encoder"]
