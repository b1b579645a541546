"""Which addresses a page check may connect to.

A product URL comes from a cell anyone with edit rights can type into, so it is
untrusted input: ``http://169.254.169.254/`` (a cloud's metadata service),
``http://localhost:6379/`` or ``http://192.168.1.1/`` must not be fetched from the
machine the service runs on. Every hop (the URL typed and each redirect) is
resolved here, *every* address the name resolves to is checked, and the fetcher
then connects to the very address checked (:class:`Target`), so a name that
resolves to a public address when checked and to a private one when connected
(DNS rebinding) cannot slip through.

Refused unless listed in ``[jobs.listings] allow_networks``: loopback, private
(RFC 1918, unique local), link-local, shared (100.64/10), multicast, reserved
and unspecified addresses, and IPv4-mapped forms of those.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
#: host, port → the addresses it resolves to (``socket.getaddrinfo`` by default)
Resolver = Callable[[str, int], list[str]]


class Refused(Exception):
    """This URL may not be fetched; the message says why, for the Details cell."""


@dataclass(frozen=True)
class Target:
    """A checked hop: connect to ``ip``, but speak to ``host`` (Host header, SNI)."""

    url: str  # as given, for reports
    scheme: str
    host: str  # the name, lower case, without brackets
    port: int
    ip: str

    @property
    def origin(self) -> str:
        default = 443 if self.scheme == "https" else 80
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{shown}" + ("" if self.port == default else f":{self.port}")

    def connect_url(self) -> str:
        """The URL with the checked address in place of the name."""
        parts = urlsplit(self.url)
        ip = f"[{self.ip}]" if ":" in self.ip else self.ip
        path = parts.path or "/"
        query = f"?{parts.query}" if parts.query else ""
        return f"{self.scheme}://{ip}:{self.port}{path}{query}"

    @property
    def host_header(self) -> str:
        shown = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return shown if self.port == default else f"{shown}:{self.port}"


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise Refused(f"the name {host} does not resolve ({exc})") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def parse_networks(texts: Iterable[str]) -> tuple[IPNetwork, ...]:
    """``["127.0.0.1/32", "10.0.0.0/8"]`` → networks; ValueError names a bad one."""
    out = []
    for text in texts:
        try:
            out.append(ipaddress.ip_network(str(text).strip(), strict=False))
        except ValueError:
            raise ValueError(
                f'"{text}" is not a network; valid: an address or CIDR block such as '
                '"127.0.0.1/32" or "10.20.0.0/16"'
            ) from None
    return tuple(out)


def is_public(ip: IPAddress) -> bool:
    mapped = getattr(ip, "ipv4_mapped", None)
    if mapped is not None:
        ip = mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_multicast
        or ip.is_reserved
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in _SHARED)
        or not ip.is_global
    )


_SHARED = ipaddress.ip_network("100.64.0.0/10")


@dataclass(frozen=True)
class AddressGuard:
    allowed: Sequence[IPNetwork] = ()
    resolver: Resolver = system_resolver

    def check(self, url: str) -> Target:
        """The hop to connect to for ``url``, or :class:`Refused` saying why not."""
        try:
            parts = urlsplit(url.strip())
            port = parts.port
        except ValueError as exc:
            raise Refused(f"not a valid URL ({exc})") from None
        scheme = parts.scheme.lower()
        if scheme not in ("http", "https"):
            raise Refused(f"only http and https pages are checked, not {scheme or 'no scheme'}:")
        host = (parts.hostname or "").lower()
        if not host:
            raise Refused("the URL has no host name")
        if parts.username or parts.password:
            raise Refused("the URL carries a user name or password; give the page's plain URL")
        port = port or (443 if scheme == "https" else 80)
        try:
            literal: IPAddress | None = ipaddress.ip_address(host)
        except ValueError:
            literal = None
        addresses = [str(literal)] if literal is not None else self.resolver(host, port)
        if not addresses:
            raise Refused(f"the name {host} does not resolve")
        for text in addresses:
            ip = ipaddress.ip_address(text.split("%", 1)[0])
            if not is_public(ip) and not any(ip in net for net in self.allowed):
                raise Refused(
                    f"{host} is at {ip}, a private or reserved address; pages on the "
                    "private network are checked only when [jobs.listings] "
                    "allow_networks lists it"
                )
        return Target(url.strip(), scheme, host, port, addresses[0].split("%", 1)[0])
