"""HTTP client policy: politeness, retries, conditional listings, streaming.

The archives are volunteer-run; bulk clients have hit their rate limits
(CAIDA/libbgpstream#253). So: a descriptive User-Agent, a per-host connection
bound, conditional GETs for index pages, ``Retry-After`` honoured on 429/503,
and exponential backoff with jitter (from an injected ``random.Random``) for
transient failures. Every wait goes through the injected clock.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import aiohttp

from mrtfeed import __version__
from mrtfeed.fetch.clock import Clock, SystemClock

__all__ = [
    "FetchError",
    "HttpClient",
    "HttpPolicy",
    "HttpStatusError",
    "IncompleteDownload",
    "NotFound",
    "Page",
    "TransferResult",
    "outcome_of",
]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_USER_AGENT = (
    f"mrtfeed/{__version__} (BGP archive follower; polls index pages, "
    "honours Retry-After; python-aiohttp)"
)


class FetchError(Exception):
    """A request failed; ``outcome`` is the metrics label, ``retryable`` the policy."""

    outcome = "http_error"
    retryable = True

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.reason = reason


class NotFound(FetchError):
    outcome = "not_found"
    retryable = False


class HttpStatusError(FetchError):
    def __init__(
        self, url: str, status: int, retry_after: float | None = None, reason: str = ""
    ) -> None:
        super().__init__(url, reason or f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after
        self.retryable = status in (408, 425, 429) or status >= 500
        self.outcome = "rate_limited" if status == 429 else "http_error"


class TransportError(FetchError):
    """Connection reset, refused, DNS failure or timeout."""

    def __init__(self, url: str, reason: str, outcome: str) -> None:
        super().__init__(url, reason)
        self.outcome = outcome


class IncompleteDownload(FetchError):
    """The body is shorter than announced, or the compressed stream is not whole."""

    def __init__(self, url: str, reason: str, outcome: str = "truncated") -> None:
        super().__init__(url, reason)
        self.outcome = outcome


def outcome_of(exc: BaseException) -> str:
    """Metrics label for a failure."""
    return exc.outcome if isinstance(exc, FetchError) else "error"


@dataclass(frozen=True)
class HttpPolicy:
    """Politeness and robustness knobs; the defaults suit the public archives."""

    user_agent: str = DEFAULT_USER_AGENT
    per_host_connections: int = 2
    total_connections: int = 16
    connect_timeout: float = 30.0
    read_timeout: float = 60.0  # longest silence between body bytes
    listing_timeout: float = 120.0
    download_timeout: float = 3600.0  # rrc00 bviews are 1.5 GB
    max_attempts: int = 4
    backoff_initial: float = 1.0
    backoff_max: float = 300.0
    max_retry_after: float = 900.0  # a longer Retry-After ends this round instead
    chunk_size: int = 1 << 16
    conditional_cache_size: int = 4096


@dataclass(frozen=True)
class Page:
    url: str
    text: str
    not_modified: bool


@dataclass(frozen=True)
class TransferResult:
    url: str
    size: int
    content_length: int | None


def parse_retry_after(value: str | None, now_ts: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP date)."""
    if not value:
        return None
    v = value.strip()
    if v.isdigit():
        return float(v)
    try:
        when = email.utils.parsedate_to_datetime(v)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_ts)


class HttpClient:
    """One aiohttp session plus the retry/backoff policy around it.

    Use as an async context manager, or pass an existing ``session`` (which the
    caller then owns).
    """

    def __init__(
        self,
        policy: HttpPolicy | None = None,
        *,
        clock: Clock | None = None,
        rng: random.Random | None = None,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self._session = session
        self._owns_session = session is None
        # url -> (etag, last_modified, text) for conditional index requests
        self._validators: OrderedDict[str, tuple[str | None, str | None, str]] = OrderedDict()
        #: host -> Unix time before which it asked (Retry-After) not to be asked again.
        self._not_before: dict[str, float] = {}

    async def __aenter__(self) -> HttpClient:
        self.session  # noqa: B018 - create eagerly inside the running loop
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            p = self.policy
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    limit=p.total_connections, limit_per_host=p.per_host_connections
                ),
                headers={"User-Agent": p.user_agent},
                timeout=aiohttp.ClientTimeout(
                    total=None, sock_connect=p.connect_timeout, sock_read=p.read_timeout
                ),
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None and self._owns_session:
            await self._session.close()
        self._session = None

    # -- retry policy -------------------------------------------------------

    def backoff(self, attempt: int, err: FetchError) -> float | None:
        """Delay before retry number ``attempt`` (1-based), or None to give up."""
        p = self.policy
        base: float = min(p.backoff_max, p.backoff_initial * 2.0 ** (attempt - 1))
        delay: float = base + self.rng.uniform(0, base)
        if isinstance(err, HttpStatusError) and err.retry_after is not None:
            if err.retry_after > p.max_retry_after:
                return None
            delay = max(delay, err.retry_after + self.rng.uniform(0, p.backoff_initial))
        return delay

    async def retrying(
        self, what: str, op: Callable[[int], Awaitable[T]], attempts: int | None = None
    ) -> T:
        """Run ``op(attempt)`` until it succeeds or the error is final.

        ``op`` gets the 0-based attempt number so callers can rotate mirrors.
        """
        total = attempts or self.policy.max_attempts
        attempt = 0
        while True:
            try:
                return await op(attempt)
            except FetchError as err:
                attempt += 1
                if not err.retryable or attempt >= total:
                    raise
                delay = self.backoff(attempt, err)
                if delay is None:
                    raise
                log.info(
                    "%s failed (%s); retry %d/%d in %.1fs", what, err, attempt, total - 1, delay
                )
                await self.clock.sleep(delay)

    # -- single requests ----------------------------------------------------

    def _status_error(self, url: str, resp: aiohttp.ClientResponse) -> FetchError:
        if resp.status in (404, 410):
            return NotFound(url, f"HTTP {resp.status}")
        now = self.clock.now().timestamp()
        ra = parse_retry_after(resp.headers.get("Retry-After"), now)
        if ra is not None and resp.status in (429, 503):
            host = urlsplit(url).netloc
            self._not_before[host] = max(self._not_before.get(host, 0.0), now + ra)
        return HttpStatusError(url, resp.status, ra)

    async def _respect_retry_after(self, url: str) -> None:
        """Hold a request to a host that asked (429/503 with Retry-After) for a pause:
        only the URL answered so had waited, and a Retry-After longer than
        ``max_retry_after`` was asked again at the next round. A short pause is
        waited out; a long one fails the request without sending it."""
        host = urlsplit(url).netloc
        until = self._not_before.get(host)
        if until is None:
            return
        wait = until - self.clock.now().timestamp()
        if wait <= 0:
            del self._not_before[host]
        elif wait > self.policy.max_retry_after:
            reason = f"not sent: {host} asked (Retry-After) for {wait:.0f} s more of quiet"
            raise HttpStatusError(url, 429, wait, reason)
        else:
            await self.clock.sleep(wait)

    @staticmethod
    def _transport(url: str, e: BaseException) -> FetchError:
        if isinstance(e, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
            return TransportError(url, "timed out", "timeout")
        if isinstance(e, aiohttp.ClientPayloadError):
            return IncompleteDownload(url, f"body cut off ({e.__class__.__name__})")
        return TransportError(url, f"{e.__class__.__name__}: {e}".rstrip(": "), "connection")

    async def _get_text_once(self, url: str, conditional: bool) -> Page:
        await self._respect_retry_after(url)
        headers: dict[str, str] = {}
        cached = self._validators.get(url) if conditional else None
        if cached is not None:
            etag, modified, _ = cached
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
        try:
            async with asyncio.timeout(self.policy.listing_timeout):
                async with self.session.get(url, headers=headers) as resp:
                    if resp.status == 304 and cached is not None:
                        self._validators.move_to_end(url)
                        return Page(url, cached[2], True)
                    if resp.status != 200:
                        raise self._status_error(url, resp)
                    body = await resp.read()
                    text = body.decode(resp.charset or "utf-8", errors="replace")
                    etag = resp.headers.get("ETag")
                    modified = resp.headers.get("Last-Modified")
        except FetchError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise self._transport(url, e) from None
        if conditional and (etag or modified):
            self._validators[url] = (etag, modified, text)
            self._validators.move_to_end(url)
            while len(self._validators) > self.policy.conditional_cache_size:
                self._validators.popitem(last=False)
        return Page(url, text, False)

    async def get_text(self, url: str, *, conditional: bool = True) -> Page:
        """GET a small text resource (index page, JSON list) with retries.

        With ``conditional``, the last ETag / Last-Modified is sent and a 304
        returns the cached text with ``not_modified=True``.
        """
        return await self.retrying(f"GET {url}", lambda _a: self._get_text_once(url, conditional))

    async def _head_once(self, url: str) -> int | None:
        await self._respect_retry_after(url)
        try:
            async with asyncio.timeout(self.policy.listing_timeout):
                async with self.session.head(url, allow_redirects=True) as resp:
                    if resp.status != 200:
                        raise self._status_error(url, resp)
                    return resp.content_length
        except FetchError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise self._transport(url, e) from None

    async def head_length(self, url: str) -> int | None:
        """``Content-Length`` from a HEAD request (None if the server omits it)."""
        return await self.retrying(f"HEAD {url}", lambda _a: self._head_once(url))

    async def download_once(self, url: str, dest: Path) -> TransferResult:
        """Stream one GET into ``dest`` (overwritten). No retry: the caller
        verifies the content and retries the whole transfer."""
        await self._respect_retry_after(url)
        size = 0
        try:
            async with asyncio.timeout(self.policy.download_timeout):
                async with self.session.get(url) as resp:
                    if resp.status != 200:
                        raise self._status_error(url, resp)
                    expected = resp.content_length
                    with dest.open("wb") as fh:
                        async for chunk in resp.content.iter_chunked(self.policy.chunk_size):
                            fh.write(chunk)
                            size += len(chunk)
        except FetchError:
            raise
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise self._transport(url, e) from None
        if expected is not None and size != expected:
            raise IncompleteDownload(url, f"got {size} of {expected} bytes")
        return TransferResult(url, size, expected)
