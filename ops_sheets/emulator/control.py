"""Test controls: the request log, fault injection and "someone edits the sheet" hooks."""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Faults", "Hook", "RequestInfo", "RequestLog", "RequestRecord"]


@dataclass(frozen=True)
class RequestRecord:
    """One Sheets API request as the emulator saw it."""

    time: float  # seconds on the emulator's clock
    method: str
    path: str  # decoded path, e.g. /v4/spreadsheets/ID/values/Sheet1!A1
    kind: str  # "read" or "write", as Google's per-minute quotas count them
    status: int = 0  # HTTP status answered (0 until answered)
    operation: str = ""  # e.g. "values.batchGet", "spreadsheets.batchUpdate"


@dataclass
class RequestInfo:
    """What a ``before_request`` predicate sees about the incoming request."""

    method: str
    path: str
    kind: str
    operation: str
    query: dict[str, list[str]]
    spreadsheet_id: str | None
    body: Any
    number: int  # 1-based position among all Sheets requests since the last reset
    batch_get_number: int  # how many values:batchGet calls so far, this one included
    batch_update_number: int  # same for values:batchUpdate
    write_number: int  # same for every write request

    @property
    def is_batch_get(self) -> bool:
        return self.operation == "values.batchGet"

    @property
    def is_values_batch_update(self) -> bool:
        return self.operation == "values.batchUpdate"

    @property
    def is_write(self) -> bool:
        return self.kind == "write"

    @property
    def is_read(self) -> bool:
        return self.kind == "read"


class RequestLog:
    """Thread-safe list of :class:`RequestRecord` with counting helpers."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []
        self._counters: dict[str, int] = {}

    def start(
        self, method: str, path: str, kind: str, operation: str
    ) -> tuple[int, dict[str, int]]:
        """Record a request as it arrives; returns its index and the running counters."""
        with self._lock:
            self._records.append(RequestRecord(self._clock(), method, path, kind, 0, operation))
            for key in ("all", kind, operation):
                self._counters[key] = self._counters.get(key, 0) + 1
            return len(self._records) - 1, dict(self._counters)

    def finish(self, index: int, status: int) -> None:
        with self._lock:
            if 0 <= index < len(self._records):
                old = self._records[index]
                self._records[index] = RequestRecord(
                    old.time, old.method, old.path, old.kind, status, old.operation
                )

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def reset(self) -> None:
        with self._lock:
            self._records.clear()
            self._counters.clear()

    def count(self, kind: str | None = None) -> int:
        """Requests so far; ``kind`` is "read", "write" or an operation name."""
        with self._lock:
            if kind is None:
                return len(self._records)
            return sum(1 for r in self._records if kind in (r.kind, r.operation))

    def per_minute(self, kind: str | None = None) -> list[int]:
        """Counts per consecutive 60-second bucket, starting at the first request."""
        records = [r for r in self.records if kind is None or kind in (r.kind, r.operation)]
        if not records:
            return []
        start = records[0].time
        buckets: list[int] = []
        for record in records:
            index = int((record.time - start) // 60)
            while len(buckets) <= index:
                buckets.append(0)
            buckets[index] += 1
        return buckets

    def max_in_window(self, seconds: float = 60.0, kind: str | None = None) -> int:
        """The most requests seen in any sliding window (Google's quota is per minute)."""
        times = sorted(
            r.time for r in self.records if kind is None or kind in (r.kind, r.operation)
        )
        best = 0
        lo = 0
        for hi, t in enumerate(times):
            while t - times[lo] >= seconds:
                lo += 1
            best = max(best, hi - lo + 1)
        return best


@dataclass
class _FailRate:
    rate: float
    status: int
    rng: random.Random
    kind: str | None


@dataclass
class _FailNext:
    remaining: int
    status: int
    kind: str | None
    after_apply: bool


class Faults:
    """Fault injection for Sheets API requests.

    Failures answer with Google's error envelope for the status (429 ->
    RESOURCE_EXHAUSTED, 500 -> INTERNAL, 503 -> UNAVAILABLE).  ``kind`` limits a
    fault to "read" or "write" requests (or one operation name).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rate: _FailRate | None = None
        self._next: list[_FailNext] = []
        self._delay = 0.0
        self._delay_kind: str | None = None
        self._quota: tuple[int, float] | None = None

    def fail_rate(
        self, rate: float, status: int = 429, seed: int | None = None, kind: str | None = None
    ) -> None:
        """Fail a random ``rate`` share of requests (reproducible with ``seed``)."""
        if not 0 <= rate <= 1:
            raise ValueError("rate must be between 0 and 1")
        with self._lock:
            self._rate = _FailRate(rate, status, random.Random(seed), kind)

    def fail_next(
        self, n: int = 1, status: int = 500, kind: str | None = None, *, after_apply: bool = False
    ) -> None:
        """Fail the next ``n`` matching requests.  With ``after_apply`` the request
        is carried out and only the answer is an error: the client cannot tell
        whether its write happened (like a timeout after Google committed it)."""
        with self._lock:
            self._next.append(_FailNext(n, status, kind, after_apply))

    def delay(self, seconds: float, kind: str | None = None) -> None:
        """Answer every (matching) request only after ``seconds``."""
        with self._lock:
            self._delay = seconds
            self._delay_kind = kind

    def quota(self, limit: int = 60, window: float = 60.0) -> None:
        """Answer 429 once more than ``limit`` requests arrive within ``window``
        seconds, like Google's per-user per-minute quota."""
        with self._lock:
            self._quota = (limit, window)

    def clear(self) -> None:
        with self._lock:
            self._rate = None
            self._next.clear()
            self._delay = 0.0
            self._delay_kind = None
            self._quota = None

    # -- used by the server ------------------------------------------------

    def delay_for(self, info: RequestInfo) -> float:
        with self._lock:
            return self._delay if _matches(self._delay_kind, info) else 0.0

    def decide(self, info: RequestInfo, log: RequestLog) -> tuple[int, bool] | None:
        """(status, after_apply) if this request must fail, else ``None``."""
        with self._lock:
            for fault in self._next:
                if fault.remaining > 0 and _matches(fault.kind, info):
                    fault.remaining -= 1
                    self._next = [f for f in self._next if f.remaining > 0]
                    return fault.status, fault.after_apply
            rate = self._rate
            if rate and _matches(rate.kind, info) and rate.rng.random() < rate.rate:
                return rate.status, False
            quota = self._quota
        if quota is not None:
            limit, window = quota
            records = log.records
            if records:
                now = records[-1].time
                recent = sum(1 for r in records if now - r.time < window)
                if recent > limit:
                    return 429, False
        return None


def _matches(kind: str | None, info: RequestInfo) -> bool:
    return kind is None or kind in (info.kind, info.operation)


@dataclass
class Hook:
    """A ``before_request`` registration; ``calls`` counts how often it fired."""

    predicate: Callable[[RequestInfo], bool]
    action: Callable[[Any], Any]
    once: bool = True
    calls: int = 0
    errors: list[BaseException] = field(default_factory=list)

    @property
    def fired(self) -> bool:
        return self.calls > 0
