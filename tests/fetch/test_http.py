"""HTTP policy: backoff, Retry-After, final errors, conditional requests."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from random import Random

import pytest

from mrtfeed.fetch.http import (
    HttpClient,
    HttpPolicy,
    HttpStatusError,
    IncompleteDownload,
    NotFound,
    parse_retry_after,
)
from tests.fetch.archive_server import ArchiveServer, Fault
from tests.fetch.fakeclock import FakeClock

NOW = datetime(2026, 7, 20, tzinfo=UTC)


def test_retry_after_forms() -> None:
    ts = NOW.timestamp()
    assert parse_retry_after("120", ts) == 120
    assert parse_retry_after("Mon, 20 Jul 2026 00:01:00 GMT", ts) == 60
    assert parse_retry_after("soon", ts) is None
    assert parse_retry_after(None, ts) is None


def test_backoff_grows_exponentially_with_bounded_jitter() -> None:
    client = HttpClient(HttpPolicy(backoff_initial=1, backoff_max=8), rng=Random(5))
    err = HttpStatusError("u", 503)
    delays = [client.backoff(n, err) for n in range(1, 7)]
    for n, d in enumerate(delays, start=1):
        base = min(8, 2 ** (n - 1))
        assert d is not None and base <= d <= 2 * base


def test_overlong_retry_after_gives_up_this_round() -> None:
    client = HttpClient(HttpPolicy(max_retry_after=60), rng=Random(5))
    assert client.backoff(1, HttpStatusError("u", 429, retry_after=3600)) is None


async def test_a_retry_after_holds_every_request_to_the_host(rv_server: ArchiveServer) -> None:
    """A 429 with a long Retry-After ended the round, and the next round asked again
    (6 requests in 30 s to a directory that said 3600 s); other URLs of the host were
    asked at once. Now nothing goes to the host until the time has passed."""
    for folder in ("x/", "y/"):
        rv_server.put(folder + "a", b"1")
    rv_server.inject("x/", Fault.too_many(3600))
    clock = FakeClock(NOW)
    async with HttpClient(clock=clock, rng=Random(1)) as client:
        for url in (rv_server.base_url + "x/", rv_server.base_url + "y/"):
            with pytest.raises(HttpStatusError) as info:
                await client.get_text(url)
            assert info.value.outcome == "rate_limited"
        assert "not sent" in info.value.reason
        assert rv_server.count("/x/") == 1 and rv_server.count("/y/") == 0
        clock.advance(seconds=3601)
        assert "Index of /y" in (await client.get_text(rv_server.base_url + "y/")).text


async def test_a_short_retry_after_is_waited_out_by_other_requests_too(
    rv_server: ArchiveServer,
) -> None:
    for folder in ("x/", "y/"):
        rv_server.put(folder + "a", b"1")
    rv_server.inject("x/", Fault.too_many(30))
    clock = FakeClock(NOW)
    async with HttpClient(HttpPolicy(max_attempts=1), clock=clock, rng=Random(1)) as client:
        with pytest.raises(HttpStatusError):
            await client.get_text(rv_server.base_url + "x/")
        await client.get_text(rv_server.base_url + "y/")
    assert clock.sleeps == [30.0]


async def test_404_is_final_and_not_retried(rv_server: ArchiveServer) -> None:
    clock = FakeClock(NOW)
    async with HttpClient(clock=clock) as client:
        with pytest.raises(NotFound):
            await client.get_text(rv_server.base_url + "nope/")
    assert rv_server.count("/nope/") == 1 and clock.sleeps == []


async def test_server_errors_exhaust_attempts(rv_server: ArchiveServer) -> None:
    rv_server.put("x/a", b"1")
    rv_server.inject("x/", Fault.status_code(500, times=-1))
    clock = FakeClock(NOW)
    async with HttpClient(HttpPolicy(max_attempts=3), clock=clock, rng=Random(1)) as client:
        with pytest.raises(HttpStatusError) as info:
            await client.get_text(rv_server.base_url + "x/")
    assert info.value.status == 500 and rv_server.count("/x/") == 3 and len(clock.sleeps) == 2


async def test_connection_reset_is_retried(rv_server: ArchiveServer) -> None:
    rv_server.put("x/a", b"1")
    rv_server.inject("x/", Fault.reset())
    async with HttpClient(clock=FakeClock(NOW), rng=Random(1)) as client:
        page = await client.get_text(rv_server.base_url + "x/")
    assert "Index of /x" in page.text and rv_server.count("/x/") == 2


async def test_truncated_body_is_detected(rv_server: ArchiveServer, tmp_path: Path) -> None:
    rv_server.put("f.bin", bytes(5000))
    rv_server.inject("f.bin", Fault.truncate(keep=10))
    async with HttpClient(clock=FakeClock(NOW)) as client:
        with pytest.raises(IncompleteDownload):
            await client.download_once(rv_server.base_url + "f.bin", tmp_path / "f")
        ok = await client.download_once(rv_server.base_url + "f.bin", tmp_path / "f")
    assert ok.size == 5000 and (tmp_path / "f").stat().st_size == 5000


async def test_head_length(rv_server: ArchiveServer) -> None:
    rv_server.put("f.bin", bytes(1234))
    async with HttpClient(clock=FakeClock(NOW)) as client:
        assert await client.head_length(rv_server.base_url + "f.bin") == 1234
