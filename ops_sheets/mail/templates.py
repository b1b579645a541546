"""Render the email templates of one message kind.

Templates are Jinja2, loaded from the user's folder (``[mail] templates_dir``)
first and the bundled ``templates/`` folder second, *file by file*: overriding
``purchase_order/body.html`` keeps the bundled subject and text part.

The environment is the immutable sandbox (the team edits templates, so a
template must not be able to call arbitrary methods or mutate the context),
with ``StrictUndefined`` (a misspelt variable is an error that names the
template, line and variable, and the message is not sent) and autoescaping
for ``.html`` files only (the text part and subject are plain text).
"""

from __future__ import annotations

import importlib.resources
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any

from jinja2 import (
    FileSystemLoader,
    StrictUndefined,
    TemplateNotFound,
    TemplateSyntaxError,
    UndefinedError,
    select_autoescape,
)
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError
from markupsafe import Markup, escape

from ops_sheets.config import Settings
from ops_sheets.errors import TemplateError

#: The message kinds (template folder names); a contract of the design.
KINDS: tuple[str, ...] = (
    "purchase_order",
    "po_reminder",
    "pickup_request",
    "return_acknowledgement",
    "manager_alert",
    "weekly_summary",
    # wave 2, issue 18: customer mail
    "shipping_confirmation",
    "order_delayed",
    "review_request",
    "complaint_acknowledgement",
)
KINDS += ("content_reminder",)  # issue 19
PARTS: tuple[str, ...] = ("subject.txt", "body.txt", "body.html")

_CURRENCY_SYMBOLS = {"GBP": "£", "EUR": "€", "USD": "$", "JPY": "¥"}


class TemplateRenderError(TemplateError):
    """A template failed to render; says which file, line and (if known) variable."""

    def __init__(self, message: str, *, template: str, line: int | None, variable: str = ""):
        super().__init__(message)
        self.template = template
        self.line = line
        self.variable = variable


@dataclass(frozen=True)
class Rendered:
    subject: str
    text: str
    html: str


def bundled_templates_dir() -> Path:
    """The templates shipped with the package.

    Installed, ``templates/`` is the package ``ops_sheets.templates`` (a
    package-dir mapping); in a source checkout it is the repo's top-level folder.
    """
    try:
        root = Path(str(importlib.resources.files("ops_sheets.templates")))
        if (root / KINDS[0]).is_dir():
            return root
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[2] / "templates"


# ---------------------------------------------------------------- filters


def _money(value: Any, currency: str = "") -> str:
    """``1234.5|money("GBP")`` → ``£1,234.50``; unknown currency codes follow the amount."""
    if value is None or value == "":
        return ""
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    text = f"{abs(amount):,.2f}"
    sign = "-" if amount < 0 else ""
    symbol = _CURRENCY_SYMBOLS.get(str(currency).upper())
    if symbol:
        return f"{sign}{symbol}{text}"
    return f"{sign}{text} {currency}".strip()


def _number(value: Any, places: int | None = None) -> str:
    """Thousands separators; whole numbers without decimals unless ``places`` is given."""
    if value is None or value == "":
        return ""
    try:
        num = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if places is None:
        places = 0 if num == num.to_integral_value() else 2
    return f"{num:,.{places}f}"


def _date(value: Any, fmt: str = "%a %d %b %Y") -> str:
    """Dates and datetimes as ``Mon 23 Nov 2026``; text passes through unchanged."""
    if isinstance(value, (date, datetime)):
        return value.strftime(fmt)
    return "" if value is None else str(value)


def _datetime(value: Any, fmt: str = "%a %d %b %Y %H:%M") -> str:
    return _date(value, fmt)


def _nl2br(value: Any) -> Markup:
    """Escape, then turn line breaks into ``<br>`` (for addresses in HTML bodies)."""
    lines = str("" if value is None else value).splitlines()
    return Markup("<br>").join(escape(line) for line in lines)


# ---------------------------------------------------------------- renderer


class TemplateRenderer:
    """Renders ``<kind>/subject.txt``, ``body.txt`` and ``body.html``."""

    def __init__(self, settings: Settings, *, bundled_dir: Path | None = None) -> None:
        self.user_dir = settings.resolve(settings.mail.templates_dir)
        self.bundled_dir = bundled_dir or bundled_templates_dir()
        self.search_path = [self.user_dir, self.bundled_dir]
        self.env = ImmutableSandboxedEnvironment(
            loader=FileSystemLoader([str(p) for p in self.search_path], encoding="utf-8"),
            undefined=StrictUndefined,
            autoescape=select_autoescape(
                enabled_extensions=("html", "htm"), default_for_string=False, default=False
            ),
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=False,
            auto_reload=True,
        )
        self.env.filters.update(
            money=_money, number=_number, date=_date, datetime=_datetime, nl2br=_nl2br
        )

    def source_of(self, kind: str, part: str) -> Path | None:
        """The file that will be used for ``kind/part`` (user's or bundled)."""
        for base in self.search_path:
            candidate = base / kind / part
            if candidate.is_file():
                return candidate
        return None

    def render(self, kind: str, context: Mapping[str, Any]) -> Rendered:
        if kind not in KINDS and not (self.bundled_dir / kind).is_dir():
            raise TemplateError(f"unknown email kind {kind!r}; valid kinds: {', '.join(KINDS)}")
        subject = self._render_part(kind, "subject.txt", context)
        # A subject is one line: trim the file's layout whitespace, but leave any
        # line break that came *from a value* for the header check to reject.
        subject = subject.strip(" \t\r\n")
        text = self._render_part(kind, "body.txt", context).strip("\n") + "\n"
        html = self._render_part(kind, "body.html", context)
        return Rendered(subject=subject, text=text, html=html)

    def render_file(self, kind: str, part: str, context: Mapping[str, Any]) -> str:
        """One template file of ``kind`` (e.g. a channel's ``channel.txt``), with the
        same search path, sandbox and error messages as the email parts."""
        return self._render_part(kind, part, context)

    def _render_part(self, kind: str, part: str, context: Mapping[str, Any]) -> str:
        name = f"{kind}/{part}"
        try:
            template = self.env.get_template(name)
        except TemplateNotFound as exc:
            raise TemplateRenderError(
                f"template {name} not found (looked in {self.user_dir} and {self.bundled_dir})"
                + (f"; it includes {exc.name}" if exc.name != name else ""),
                template=name,
                line=None,
            ) from None
        except TemplateSyntaxError as exc:
            where = exc.name or name
            raise TemplateRenderError(
                f"template {where} line {exc.lineno}: syntax error: {exc.message}",
                template=where,
                line=exc.lineno,
            ) from None
        try:
            return template.render(dict(context))
        except UndefinedError as exc:
            where, line = self._locate(exc.__traceback__, name)
            variable = _undefined_name(str(exc))
            raise TemplateRenderError(
                f"template {where}{_at(line)}: {_describe_undefined(str(exc))}"
                f"{self._source_line(where, line, variable)}; add it to the message context or "
                "change the template",
                template=where,
                line=line,
                variable=variable,
            ) from None
        except SecurityError as exc:
            where, line = self._locate(exc.__traceback__, name)
            raise TemplateRenderError(
                f"template {where}{_at(line)}: not allowed in a template: {exc}",
                template=where,
                line=line,
            ) from None
        except TemplateSyntaxError as exc:  # raised lazily by {% include %}
            where = exc.name or name
            raise TemplateRenderError(
                f"template {where} line {exc.lineno}: syntax error: {exc.message}",
                template=where,
                line=exc.lineno,
            ) from None
        except Exception as exc:  # a user-edited template can fail in any filter or test
            where, line = self._locate(exc.__traceback__, name)
            raise TemplateRenderError(
                f"template {where}{_at(line)}: {type(exc).__name__}: {exc}",
                template=where,
                line=line,
            ) from None

    def _locate(self, tb: TracebackType | None, default: str) -> tuple[str, int | None]:
        """The innermost template frame of a traceback: (template name, line)."""
        roots = [p.resolve() for p in self.search_path if p.exists()]
        found: tuple[str, int | None] = (default, None)
        while tb is not None:
            filename = tb.tb_frame.f_code.co_filename
            if filename.endswith((".txt", ".html", ".htm")):
                path = Path(filename).resolve()
                for root in roots:
                    if path.is_relative_to(root):
                        found = (path.relative_to(root).as_posix(), tb.tb_lineno)
                        break
            tb = tb.tb_next
        return found

    def _source_line(self, name: str, line: int | None, variable: str = "") -> str:
        if line is None:
            return ""
        try:
            source, _, _ = self.env.loader.get_source(self.env, name)  # type: ignore[union-attr]
        except TemplateNotFound:
            return ""
        lines = source.splitlines()
        if not 0 < line <= len(lines):
            return ""
        snippet = lines[line - 1].strip()
        if len(snippet) > 80:
            # Show the part of a long line around the variable, if we know it.
            at = snippet.find(variable) if variable else -1
            start = max(0, min(at - 40, len(snippet) - 77)) if at >= 0 else 0
            snippet = ("..." if start else "") + snippet[start : start + 77] + "..."
        return f" (in: {snippet})"


def _at(line: int | None) -> str:
    return f" line {line}" if line else ""


def _undefined_name(message: str) -> str:
    """The variable or attribute name in a Jinja UndefinedError message."""
    for pattern in (r"'([^']+)' is undefined", r"has no attribute '([^']+)'"):
        match = re.search(pattern, message)
        if match:
            return match.group(1)
    return ""


def _describe_undefined(message: str) -> str:
    match = re.search(r"'([^']+)' is undefined", message)
    if match:
        return f"variable '{match.group(1)}' is undefined"
    match = re.search(r"'(.+?)' has no attribute '([^']+)'", message)
    if match:
        return f"attribute '{match.group(2)}' is undefined (missing from a {match.group(1)})"
    return message
