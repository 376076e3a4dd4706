"""A virtual clock: ``sleep`` advances time instantly and records the delay."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.t = start
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += timedelta(seconds=max(0.0, seconds))
        await asyncio.sleep(0)

    def advance(self, **kw: float) -> None:
        self.t += timedelta(**kw)

    def set(self, t: datetime) -> None:
        self.t = t
