"""Email addresses and header values as people type them into cells and config.

Pure rules, shared by the sheet checks (domain/validation) and the mailer: exactly
one address per cell, and no line break or encoded word that could smuggle a
second header into a message.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from email.header import decode_header
from email.headerregistry import Address

from ops_sheets.errors import AddressError

# RFC 5322 atext: the characters of an unquoted local part.
_ATEXT = r"A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
_LOCAL_RE = re.compile(rf"[{_ATEXT}]+(?:\.[{_ATEXT}]+)*")
_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_TLD_RE = re.compile(r"(?:[A-Za-z]{2,63}|xn--[A-Za-z0-9-]{1,59})")
# Characters that may not appear in an unquoted display name.
_NAME_SPECIALS = set('<>@,;:"[]()\\')
# Line breaks in every spelling Python or a mail client might honour.
_LINE_BREAKS = ("\r", "\n", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")
_ENCODED_WORD_RE = re.compile(r"=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=")
_PERCENT_BREAK_RE = re.compile(r"%0[ad]", re.IGNORECASE)


# ---------------------------------------------------------------- header safety


def header_problem(value: str) -> str | None:
    """Why ``value`` is unsafe in a header, or None if it is safe.

    Checked on the raw text and on the decoded form of any RFC 2047 encoded word,
    because a mail client decodes those before showing (or re-folding) them.
    """
    for text, encoded in _header_views(value):
        where = "an encoded " if encoded else "a "
        if any(brk in text for brk in _LINE_BREAKS):
            return f"contains {where}line break"
        if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) == 0x7F for ch in text):
            return f"contains {where}control character"
        if "\t" in text:
            return f"contains {where}tab character"
    if _PERCENT_BREAK_RE.search(value):
        return "contains an encoded line break (%0A or %0D)"
    return None


def _header_views(value: str) -> Iterable[tuple[str, bool]]:
    yield value, False
    for word in _ENCODED_WORD_RE.findall(value):
        try:
            parts = decode_header(word)
        except Exception:  # a malformed encoded word is itself suspicious
            yield "\n", True
            continue
        for chunk, charset in parts:
            if isinstance(chunk, bytes):
                yield chunk.decode(charset or "ascii", errors="replace"), True
            else:
                yield chunk, True


def check_header(name: str, value: str) -> str:
    """Return ``value`` if it is safe as the ``name`` header; raise AddressError if not."""
    problem = header_problem(value)
    if problem:
        raise AddressError(f"{name} {problem}; remove it (headers must be one line)")
    return value


# ---------------------------------------------------------------- addresses


# An address as most cells hold it (name@example.com): one @, a dot-atom local part
# without % = ? (which header_problem looks at), letter-only top-level domain, no
# spaces, quotes or brackets. Everything this matches, parse_address accepts.
_PLAIN_LOCAL = r"[A-Za-z0-9!#$&'*+/^_`{|}~-]+(?:\.[A-Za-z0-9!#$&'*+/^_`{|}~-]+)*"
_PLAIN_RE = re.compile(
    rf"({_PLAIN_LOCAL})@((?:[A-Za-z0-9](?:[A-Za-z0-9-]{{0,61}}[A-Za-z0-9])?\.)+[A-Za-z]{{2,63}})"
)


def is_plain_address(text: str) -> bool:
    """True when ``text`` is certainly one valid address in its plainest form, which
    :func:`parse_address` accepts: a quick look that spares it the full parse. False
    says nothing (parse it to know)."""
    match = _PLAIN_RE.fullmatch(text)
    return match is not None and len(match.group(1)) <= 64 and len(match.group(2)) <= 253


def parse_address(text: str, *, what: str = "address") -> Address:
    """Parse a cell or config value that must hold exactly one email address.

    Accepts ``local@domain`` or ``Display Name <local@domain>`` (the name may be
    quoted). Raises AddressError whose message says what is wrong, phrased to be
    shown next to the cell.
    """
    if text is None or not str(text).strip():
        raise AddressError(f"{what} is empty; enter one email address like name@example.com")
    raw = str(text)
    problem = header_problem(raw)
    if problem:
        raise AddressError(f"{what} {problem}; enter one address on a single line")
    value = raw.strip()
    if _count_outside_quotes(value, "@") > 1 or any(
        _count_outside_quotes(value, sep) for sep in (",", ";")
    ):
        raise AddressError(
            f"{what} holds more than one address ({value!r}); put exactly one address in "
            "the cell (use a shared mailbox if several people must receive it)"
        )
    display, spec = _split_display(value, what)
    username, domain = _parse_addr_spec(spec, what)
    return Address(display_name=display, username=username, domain=domain)


def _count_outside_quotes(value: str, char: str) -> int:
    count, quoted, escaped = 0, False, False
    for ch in value:
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == char and not quoted:
            count += 1
    return count


def _split_display(value: str, what: str) -> tuple[str, str]:
    if "<" not in value and ">" not in value:
        return "", value
    match = re.fullmatch(r"(.*?)\s*<([^<>]*)>", value, flags=re.DOTALL)
    if not match:
        raise AddressError(
            f"{what} {value!r} is not a valid email address; write it as name@example.com "
            "or Name <name@example.com>"
        )
    name, spec = match.group(1).strip(), match.group(2).strip()
    if name.startswith('"'):
        inner = re.fullmatch(r'"((?:[^"\\]|\\.)*)"', name)
        if not inner:
            raise AddressError(f"{what} has an unbalanced quote in the name: {value!r}")
        name = re.sub(r"\\(.)", r"\1", inner.group(1))
    elif any(ch in _NAME_SPECIALS for ch in name):
        raise AddressError(
            f"{what} has a name with special characters ({name!r}); put the name in double "
            'quotes, like "Smith, J" <j@example.com>'
        )
    if _ENCODED_WORD_RE.search(name):
        raise AddressError(f"{what} has an encoded name ({name!r}); type the name as plain text")
    return name, spec


def _parse_addr_spec(spec: str, what: str) -> tuple[str, str]:
    hint = "write it as name@example.com"
    if spec.count("@") != 1:
        raise AddressError(f"{what} {spec!r} is not a valid email address; {hint}")
    local, domain = spec.rsplit("@", 1)
    if not local or len(local) > 64 or not _LOCAL_RE.fullmatch(local):
        raise AddressError(
            f"{what} {spec!r} has an invalid part before the @ "
            "(letters, digits and . _ + - only, no spaces or double dots)"
        )
    try:
        ascii_domain = domain.encode("idna").decode("ascii") if domain else ""
    except UnicodeError:
        raise AddressError(f"{what} {spec!r} has an invalid domain after the @") from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or len(ascii_domain) > 253
        or not all(_LABEL_RE.fullmatch(label) for label in labels)
        or not _TLD_RE.fullmatch(labels[-1])
    ):
        raise AddressError(
            f"{what} {spec!r} has an invalid domain after the @; {hint} (a full domain "
            "such as example.com)"
        )
    return local, ascii_domain.lower()


def format_address(address: Address) -> str:
    return str(address)
