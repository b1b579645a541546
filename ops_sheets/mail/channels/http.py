"""Posting one JSON body over HTTPS with httpx: retries, Retry-After, classified errors.

Why httpx (a new dependency) rather than urllib: a client whose timeouts,
TLS context and exceptions tell apart *where* a request failed. That is what
the ledger needs: a failure to connect (``ConnectError``, ``ConnectTimeout``,
``PoolTimeout``) means nothing left, a temporary failure; a timeout or a broken
connection *after* the request was written (``ReadTimeout``, ``WriteTimeout``,
``RemoteProtocolError``, ``ReadError``) means the post may have arrived, an
unknown outcome that is never retried blindly. urllib folds both into
``URLError``. httpx also reuses one connection for a run's posts.

TLS is always verified: against the system store, plus ``[channels.<name>]
ca_file`` for a private CA (how the tests trust their local server). There is
no switch to turn verification off.

Retries within a run, for answers that say "not now" (429, 5xx): wait what
``Retry-After`` asks (seconds or an HTTP date; Telegram's
``parameters.retry_after`` too), else ``first_backoff × 2^n``; never longer
than ``max_wait``. When the service asks for longer than ``max_wait``, the
run does not wait: the post fails temporarily and the ledger's backoff tries
again at a later run. Other 4xx answers are refusals (a wrong or revoked URL,
a payload the service rejects): permanent, never retried as they were.

Secrets: httpx logs every request's full URL at INFO, so its loggers are kept
at WARNING; nothing here puts the URL in a message or chains an httpx
exception (whose ``request`` holds the URL): only the host is ever named.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from ops_sheets.mail.transports.base import (
    ConnectError,
    PermanentDeliveryError,
    TemporaryDeliveryError,
    UnknownOutcomeError,
)

from .base import host_of

log = logging.getLogger(__name__)
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)

USER_AGENT = "ops-sheets (channel alerts)"
#: decides whether a 2xx answer really means accepted: (accepted?, why not)
Acceptance = Callable[[int, bytes], tuple[bool, str]]


def tls_context(ca_file: Path | None, where: str) -> ssl.SSLContext:
    """The system store, plus ``ca_file``; hostname checking on."""
    context = ssl.create_default_context()
    if ca_file is not None:
        try:
            context.load_verify_locations(cafile=str(ca_file))
        except (OSError, ssl.SSLError) as exc:
            raise ConnectError(
                f"{where} ca_file: cannot load {ca_file}: {exc}", config=True
            ) from None
    return context


def retry_after_seconds(response: httpx.Response, now: Callable[[], datetime]) -> float | None:
    """How long the service asked us to wait, if it said."""
    value = response.headers.get("retry-after", "").strip()
    if value:
        try:
            return max(float(value), 0.0)
        except ValueError:
            pass
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            return max((when - now()).total_seconds(), 0.0)
    try:  # Telegram: {"ok": false, "parameters": {"retry_after": 7}}
        answer = json.loads(response.content or b"{}")
        wait = answer.get("parameters", {}).get("retry_after") if isinstance(answer, dict) else None
        if isinstance(wait, (int, float)) and not isinstance(wait, bool):
            return max(float(wait), 0.0)
    except (ValueError, AttributeError):
        pass
    return None


def _reason(response: httpx.Response) -> str:
    text = " ".join(response.content[:200].decode("utf-8", "replace").split())
    return f"{response.status_code} {response.reason_phrase}" + (f": {text}" if text else "")


class HttpPoster:
    """Posts JSON bodies; one client (and connection) until ``close()``."""

    def __init__(
        self,
        *,
        timeout: float = 10.0,
        ca_file: Path | None = None,
        max_retries: int = 3,
        max_wait: float = 30.0,
        first_backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        where: str = "[channels]",
    ) -> None:
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_wait = max_wait
        self.first_backoff = first_backoff
        self.sleep = sleep
        self.wall_clock = wall_clock
        self.where = where
        self._context = tls_context(ca_file, where)
        self._client: httpx.Client | None = None

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                verify=self._context,
                timeout=httpx.Timeout(self.timeout),
                follow_redirects=False,
                headers={"User-Agent": USER_AGENT},
            )
        return self._client

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def post(
        self,
        url: str,
        body: bytes,
        *,
        on_handover: Callable[[], None] | None = None,
        accepted: Acceptance | None = None,
    ) -> str:
        """POST ``body`` to ``url``; return a short description of the answer.

        ``on_handover`` runs once, just before the first request is written (the
        ledger's ``sending``). Raises TemporaryDeliveryError (nothing arrived,
        worth another try later), PermanentDeliveryError (refused) or
        UnknownOutcomeError (written, no answer).
        """
        host = host_of(url)
        handed = False
        attempt = 0
        while True:
            if not handed and on_handover is not None:
                on_handover()
            handed = True
            response = self._send_once(url, body, host)
            status = response.status_code
            if 200 <= status < 300:
                ok, why = accepted(status, response.content) if accepted else (True, "")
                if not ok:
                    raise PermanentDeliveryError(
                        f"{host} answered {status} but did not take the post: {why}", code=status
                    )
                return f"{host} answered {status}"
            if status == 429 or status >= 500:
                asked = retry_after_seconds(response, self.wall_clock)
                if attempt >= self.max_retries:
                    raise TemporaryDeliveryError(
                        f"{host} answered {_reason(response)} after {attempt + 1} tries",
                        code=status,
                    )
                if asked is not None and asked > self.max_wait:
                    raise TemporaryDeliveryError(
                        f"{host} answered {status} and asked to wait {asked:g} s, longer than "
                        f"max_retry_wait_seconds ({self.max_wait:g}); tried again at a later run",
                        code=status,
                    )
                wait = asked if asked is not None else self.first_backoff * (2**attempt)
                wait = min(wait, self.max_wait)
                log.warning(
                    "%s answered %s; trying again in %.1f s (%s)",
                    host,
                    status,
                    wait,
                    "as it asked" if asked is not None else "backoff",
                )
                self.sleep(wait)
                attempt += 1
                continue
            if 300 <= status < 400:
                raise PermanentDeliveryError(
                    f"{host} answered {status} (a redirect): the webhook URL is out of date; "
                    "copy the current one from the service",
                    code=status,
                )
            raise PermanentDeliveryError(
                f"{host} refused the post: {_reason(response)}", code=status
            )

    def _send_once(self, url: str, body: bytes, host: str) -> httpx.Response:
        try:
            return self._http().post(
                url, content=body, headers={"Content-Type": "application/json; charset=utf-8"}
            )
        except (httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            self.close()
            raise TemporaryDeliveryError(
                f"cannot connect to {host}: {type(exc).__name__} after {self.timeout:g} s",
                stage="connect",
            ) from None
        except httpx.ConnectError as exc:
            self.close()
            cause = exc.__cause__ or exc.__context__
            text = str(exc)
            if isinstance(cause, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY" in text:
                raise TemporaryDeliveryError(
                    f"the TLS certificate of {host} was not accepted; if it uses a private CA, "
                    f"set {self.where} ca_file to its certificate",
                    stage="connect",
                ) from None
            raise TemporaryDeliveryError(
                f"cannot connect to {host}: {_strip(text, url)}", stage="connect"
            ) from None
        except httpx.TimeoutException as exc:  # read or write timeout: it was (partly) sent
            self.close()
            raise UnknownOutcomeError(
                f"no answer from {host} within {self.timeout:g} s after the post was sent "
                f"({type(exc).__name__}); it may or may not have arrived",
                stage="data",
            ) from None
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            self.close()
            raise UnknownOutcomeError(
                f"the connection to {host} broke after the post was sent "
                f"({type(exc).__name__}); it may or may not have arrived",
                stage="data",
            ) from None
        except httpx.InvalidURL:
            raise PermanentDeliveryError(
                f"the URL for {host} is not valid; copy the webhook URL from the service again"
            ) from None
        except httpx.HTTPError as exc:
            self.close()
            raise UnknownOutcomeError(
                f"posting to {host} failed: {type(exc).__name__}; it may or may not have arrived",
                stage="data",
            ) from None


def _strip(text: str, url: str) -> str:
    """An error text without the URL (httpx messages may quote it)."""
    return text.replace(url, "<url>") if url else text
