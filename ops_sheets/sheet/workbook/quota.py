"""Google's request quota, shared by every shop on the same credentials and Cloud
project (issue 21).

Google counts Sheets API requests per Cloud project (about 300 a minute) and per
user — here, per credentials (about 60 a minute). Fifty shops on one service
account each minding only themselves trip 429s together. So every request of the
Google backend first takes a token from two buckets: its project's and its
credentials'. A 429 makes the bucket's every user wait together (``backoff``).

This module is the interface and the in-process implementation. The service
installs a gate shared between processes (:mod:`ops_sheets.store.quota`: a table
in PostgreSQL, or a SQLite file for the shops of one machine) with
:func:`install_gate`; the backend never imports the store.
"""

from __future__ import annotations

import threading
import time as time_module
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

#: a token this close to whole counts as whole (float refills never quite reach 1.0)
EPSILON = 1e-9


@dataclass(frozen=True)
class Bucket:
    """One budget: ``name`` (e.g. ``project:my-proj``) of ``per_minute`` requests.

    A full bucket holds a sixth of a minute's requests (a burst); it refills at the
    other five sixths spread over the minute. So no 60 seconds ever see more than
    ``per_minute`` requests (burst + refill), which is how Google counts.
    """

    name: str
    per_minute: float

    @property
    def capacity(self) -> float:
        return max(1.0, self.per_minute / 6)

    @property
    def per_second(self) -> float:
        return max(self.per_minute - self.capacity, 1.0) / 60.0


class RequestGate(Protocol):
    """What the Google backend asks before each request, and tells after a 429."""

    def acquire(self, buckets: tuple[Bucket, ...]) -> float:
        """Block until one token of each bucket is taken; returns the seconds waited."""
        ...

    def backoff(self, buckets: tuple[Bucket, ...], seconds: float) -> None:
        """Google said 429: nobody on these buckets sends for ``seconds``."""
        ...


class LocalGate:
    """Token buckets in this process (threads share them), the default gate."""

    def __init__(
        self,
        clock: Callable[[], float] = time_module.monotonic,
        sleep: Callable[[float], None] = time_module.sleep,
    ) -> None:
        self.clock = clock
        self.sleep = sleep
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, float]] = {}  # name -> (tokens, at)
        self._blocked: dict[str, float] = {}

    def _take(self, buckets: tuple[Bucket, ...]) -> float:
        """0 when taken; else how long to wait before trying again."""
        with self._lock:
            now = self.clock()
            wait = max((self._blocked.get(b.name, 0.0) - now for b in buckets), default=0.0)
            levels = {}
            for b in buckets:
                tokens, at = self._tokens.get(b.name, (b.capacity, now))
                level = min(b.capacity, tokens + (now - at) * b.per_second)
                levels[b.name] = level
                if level < 1.0 - EPSILON:
                    wait = max(wait, (1.0 - level) / b.per_second)
            if wait > 0:
                for b in buckets:
                    self._tokens[b.name] = (levels[b.name], now)
                return wait
            for b in buckets:
                self._tokens[b.name] = (levels[b.name] - 1.0, now)
            return 0.0

    def acquire(self, buckets: tuple[Bucket, ...]) -> float:
        waited = 0.0
        while (wait := self._take(buckets)) > 0:
            self.sleep(wait)
            waited += wait
        return waited

    def backoff(self, buckets: tuple[Bucket, ...], seconds: float) -> None:
        with self._lock:
            until = self.clock() + seconds
            for b in buckets:
                self._blocked[b.name] = max(self._blocked.get(b.name, 0.0), until)


_GATE: RequestGate | None = None
_GATE_LOCK = threading.Lock()


def install_gate(gate: RequestGate | None) -> None:
    """Make ``gate`` the one every Google workbook of this process uses (None: default)."""
    global _GATE
    with _GATE_LOCK:
        _GATE = gate


def installed_gate() -> RequestGate | None:
    """The gate the service installed, if any (the emulator is gated only then)."""
    with _GATE_LOCK:
        return _GATE


def current_gate() -> RequestGate:
    global _GATE
    with _GATE_LOCK:
        if _GATE is None:
            _GATE = LocalGate()
        return _GATE


def buckets_for(
    project: str, identity: str, per_minute: float, per_minute_per_user: float
) -> tuple[Bucket, ...]:
    """The two budgets a request draws from: the Cloud project's and the credentials'."""
    return (
        Bucket(f"project:{project or 'unknown'}", per_minute),
        Bucket(f"user:{identity or 'unknown'}", per_minute_per_user),
    )
