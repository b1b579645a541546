"""Fetch product pages politely and within bounds (httpx).

One :class:`Fetcher` serves one run of the ``listings`` job:

* only http(s); every hop (the URL, each redirect, robots.txt) is checked by
  :class:`~ops_sheets.web.guard.AddressGuard` and the connection goes to the
  address checked (Host header and TLS SNI carry the name);
* redirects are followed by hand, so each hop is checked and reported, and a
  loop or a chain longer than ``max_redirects`` ends the fetch;
* at most ``requests_per_minute_per_host`` requests to one host (robots.txt and
  retries included), more slowly when robots.txt asks for a ``Crawl-delay``;
* robots.txt is fetched once per origin and obeyed (RFC 9309: missing = all
  allowed, unreachable or a server error = nothing allowed);
* a 5xx, 429 or a failed connection is retried ``retries`` times with doubling
  back-off; a read timeout is not (a slow page stays slow);
* a response larger than ``max_bytes`` is cut off while streaming, never read
  whole; a page that trickles is stopped when its own time is up;
* the whole run has a deadline: a fetch that cannot start (or wait its turn)
  before it ends comes back as ``out_of_time`` at once;
* ETag / Last-Modified given in are sent as If-None-Match / If-Modified-Since,
  so an unchanged page is a 304 with no body.

Time comes from an injectable :class:`Clock`, so tests run the rate limit and
the deadline without sleeping for real.
"""

from __future__ import annotations

import ssl
import time
import urllib.robotparser
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urljoin, urlsplit

import httpx

from ops_sheets.web.guard import AddressGuard, Refused, Target

REDIRECTS = (301, 302, 303, 307, 308)
RETRY_STATUSES = (429, 500, 502, 503, 504)
ROBOTS_MAX_BYTES = 512 * 1024


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


@dataclass(frozen=True)
class FetchPolicy:
    user_agent: str = "ops-sheets/0.1 (product page check for the shop's operations team)"
    requests_per_minute_per_host: float = 30.0
    timeout_seconds: float = 10.0
    max_bytes: int = 5 * 1024 * 1024
    retries: int = 2
    backoff_seconds: float = 1.0
    max_redirects: int = 5
    run_seconds: float = 600.0


@dataclass(frozen=True)
class Validators:
    """What the last 200 of a page said about its version."""

    etag: str = ""
    last_modified: str = ""


@dataclass
class Fetched:
    """What became of one page fetch. ``error`` is "" when a response came back."""

    url: str
    final_url: str = ""
    status: int | None = None
    #: each hop followed: (status, the URL it pointed to)
    redirects: list[tuple[int, str]] = field(default_factory=list)
    body: bytes = b""
    content_type: str = ""
    charset: str = ""
    validators: Validators = field(default_factory=Validators)
    not_modified: bool = False
    #: refused, robots, timeout, unreachable, too_large, redirect_loop,
    #: too_many_redirects, out_of_time
    error: str = ""
    message: str = ""
    attempts: int = 0

    @property
    def text(self) -> str:
        return self.body.decode(self.charset or "utf-8", errors="replace")


class _Stop(Exception):
    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


@dataclass
class _Robots:
    parser: urllib.robotparser.RobotFileParser | None  # None: everything allowed
    deny_all: str = ""  # why nothing is allowed ("" = not so)


class Fetcher:
    def __init__(
        self,
        policy: FetchPolicy,
        guard: AddressGuard,
        clock: Clock | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.policy = policy
        self.guard = guard
        self.clock = clock or RealClock()
        self.deadline = self.clock.monotonic() + policy.run_seconds
        self._interval = 60.0 / policy.requests_per_minute_per_host
        self._next: dict[str, float] = {}  # host → earliest next request
        self._delay: dict[str, float] = {}  # host → its robots.txt Crawl-delay
        self._robots: dict[str, _Robots] = {}
        #: every request made: (host, monotonic time it started), for rate checks
        self.requests: list[tuple[str, float]] = []
        self._client = httpx.Client(
            follow_redirects=False,
            trust_env=False,  # no proxy from the environment: we connect to what we checked
            transport=transport,
            verify=verify,  # the system's CAs; tests pass their own
            headers={"User-Agent": policy.user_agent},
        )

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> Fetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def peak_per_minute(self) -> int:
        """The most requests any one host got within 60 s (on this fetcher's clock)."""
        peak = 0
        by_host: dict[str, list[float]] = {}
        for host, t in self.requests:
            by_host.setdefault(host, []).append(t)
        for starts in by_host.values():
            starts.sort()
            first = 0
            for i, t in enumerate(starts):
                while starts[first] <= t - 60.0:
                    first += 1
                peak = max(peak, i - first + 1)
        return peak

    @property
    def out_of_time(self) -> bool:
        return self.clock.monotonic() >= self.deadline

    # ------------------------------------------------------------ one page

    def fetch(self, url: str, validators: Validators | None = None) -> Fetched:
        result = Fetched(url=url)
        seen = {url.strip()}
        current = url.strip()
        try:
            while True:
                target = self.guard.check(current)
                self._obey_robots(target)
                response = self._request(
                    target, self.policy.max_bytes, validators, result, page=True
                )
                status, headers, body = response
                result.status = status
                location = headers.get("location")
                if status in REDIRECTS and location:
                    nxt = urljoin(current, location.strip())
                    result.redirects.append((status, nxt))
                    if nxt in seen:
                        raise _Stop("redirect_loop", f"redirect loop back to {nxt}")
                    if len(result.redirects) > self.policy.max_redirects:
                        raise _Stop(
                            "too_many_redirects",
                            f"more than {self.policy.max_redirects} redirects",
                        )
                    seen.add(nxt)
                    current = nxt
                    validators = None  # they belong to the first URL
                    continue
                result.final_url = current
                result.not_modified = status == 304
                result.body = body
                content_type = headers.get("content-type", "")
                result.content_type = content_type.split(";", 1)[0].strip().lower()
                result.charset = _charset(content_type)
                if status == 200:
                    result.validators = Validators(
                        headers.get("etag", ""), headers.get("last-modified", "")
                    )
                return result
        except Refused as exc:
            result.error, result.message = "refused", str(exc)
        except _Stop as exc:
            result.error, result.message = exc.error, exc.message
        result.final_url = result.final_url or current
        return result

    # ------------------------------------------------------------ robots.txt

    def _obey_robots(self, target: Target) -> None:
        robots = self._robots.get(target.origin)
        if robots is None:
            robots = self._robots[target.origin] = self._read_robots(target)
        if robots.deny_all:
            raise _Stop("robots", robots.deny_all)
        if robots.parser is not None and not robots.parser.can_fetch(
            self.policy.user_agent, target.url
        ):
            raise _Stop("robots", f"{target.origin}/robots.txt does not allow this page")

    def _read_robots(self, page: Target) -> _Robots:
        url = f"{page.origin}/robots.txt"
        current = url
        probe = Fetched(url=url)
        try:
            for _ in range(self.policy.max_redirects + 1):
                target = self.guard.check(current)
                status, headers, body = self._request(
                    target, ROBOTS_MAX_BYTES, None, probe, page=False
                )
                location = headers.get("location")
                if status in REDIRECTS and location:
                    current = urljoin(current, location.strip())
                    continue
                break
            else:
                return _Robots(None)  # RFC 9309: too many redirects = unavailable = allowed
        except Refused as exc:
            return _Robots(None, f"robots.txt refused: {exc}")
        except _Stop as exc:
            if exc.error == "out_of_time":
                raise
            return _Robots(None, f"{url} could not be read ({exc.message}); nothing is fetched")
        if 400 <= status < 500:
            return _Robots(None)
        if status >= 500:
            return _Robots(None, f"{url} answered {status}; the site asks crawlers to wait")
        parser = urllib.robotparser.RobotFileParser(url)
        parser.parse(
            body.decode(
                _charset(headers.get("content-type", "")) or "utf-8", "replace"
            ).splitlines()
        )
        delay = parser.crawl_delay(self.policy.user_agent)
        if delay:
            self._delay[page.host] = float(delay)
        return _Robots(parser)

    # ------------------------------------------------------------ one request

    def _request(
        self,
        target: Target,
        max_bytes: int,
        validators: Validators | None,
        result: Fetched,
        *,
        page: bool,
    ) -> tuple[int, httpx.Headers, bytes]:
        attempt = 0
        while True:
            attempt += 1
            if page:
                result.attempts += 1
            self._wait_turn(target.host)
            try:
                status, headers, body = self._once(target, max_bytes, validators)
            except httpx.TimeoutException as exc:
                if isinstance(exc, httpx.ConnectTimeout) and self._backoff(attempt):
                    continue
                raise _Stop("timeout", f"no answer within {self._timeout():.0f} s") from None
            except (httpx.TransportError, OSError) as exc:
                if self._backoff(attempt):
                    continue
                raise _Stop("unreachable", f"could not connect: {_reason(exc)}") from None
            if status in RETRY_STATUSES and self._backoff(attempt):
                continue
            return status, headers, body

    def _backoff(self, attempt: int) -> bool:
        """Wait before another try, if tries are left and the run has time for it."""
        if attempt > self.policy.retries:
            return False
        pause = self.policy.backoff_seconds * 2 ** (attempt - 1)
        if self.clock.monotonic() + pause >= self.deadline:
            return False
        self.clock.sleep(pause)
        return True

    def _wait_turn(self, host: str) -> None:
        now = self.clock.monotonic()
        interval = max(self._interval, self._delay.get(host, 0.0))
        start = max(now, self._next.get(host, now))
        if start >= self.deadline - 0.05:
            raise _Stop("out_of_time", "not fetched: the run's time limit was reached")
        self.clock.sleep(start - now)
        self._next[host] = start + interval
        self.requests.append((host, start))

    def _timeout(self) -> float:
        remaining = self.deadline - self.clock.monotonic()
        return max(0.05, min(self.policy.timeout_seconds, remaining))

    def _once(
        self, target: Target, max_bytes: int, validators: Validators | None
    ) -> tuple[int, httpx.Headers, bytes]:
        timeout = self._timeout()
        give_up = self.clock.monotonic() + timeout
        headers = {
            "Host": target.host_header,
            "Accept": "text/html,application/xhtml+xml,*/*;q=0.5",
        }
        if validators is not None:
            if validators.etag:
                headers["If-None-Match"] = validators.etag
            if validators.last_modified:
                headers["If-Modified-Since"] = validators.last_modified
        extensions = {"sni_hostname": target.host} if target.scheme == "https" else {}
        with self._client.stream(
            "GET",
            target.connect_url(),
            headers=headers,
            timeout=httpx.Timeout(timeout),
            extensions=extensions,
        ) as response:
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise _Stop("too_large", _too_large(max_bytes, int(length)))
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():  # decoded chunk by chunk: no zip bombs
                size += len(chunk)
                if size > max_bytes:
                    raise _Stop("too_large", _too_large(max_bytes, None))
                chunks.append(chunk)
                if self.clock.monotonic() > give_up:
                    raise _Stop("timeout", f"the page took more than {timeout:.0f} s to arrive")
            return response.status_code, response.headers, b"".join(chunks)


def _too_large(cap: int, length: int | None) -> str:
    size = f" ({length / 1e6:.1f} MB)" if length else ""
    return f"page larger than {cap / 1e6:g} MB{size}; not read"


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        name, _, value = part.partition("=")
        if name.strip().lower() == "charset":
            return value.strip().strip('"').lower()
    return ""


def _reason(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:200]


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


Fetch = Callable[[str, Validators | None], Fetched]
