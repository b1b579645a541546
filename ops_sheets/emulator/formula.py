"""A small formula evaluator so USER_ENTERED formulas read back like in Google.

Google computes formulas server-side; the recordings read ``=4/2`` back as
``2`` and ``= 1 / 1024`` as ``0.0009765625``.  This evaluator covers
arithmetic, comparison, ``&``, cell and range references (also on other
sheets) and a handful of common functions.  A formula using anything else is
reported as unsupported and the emulator then shows its text instead of a
result, which is visible in tests rather than silently wrong.

Known gap: Google rewrites references when rows or columns are inserted,
deleted or sorted (``=B2*C2`` becomes ``=B3*C3``); the emulator keeps the
formula text as written.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from .a1 import col_to_index
from .values import Scalar, format_general

__all__ = ["ErrorValue", "FormulaContext", "Unsupported", "evaluate"]


class ErrorValue(str):
    """A spreadsheet error such as ``#DIV/0!``; renders as its text."""


class Unsupported(Exception):
    """The formula uses syntax or a function this evaluator does not know."""


class _Fail(Exception):
    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class FormulaContext(Protocol):
    def cell_value(self, sheet: str | None, row: int, col: int) -> Scalar:
        """Evaluated value of a cell (``None`` when empty); may raise ``KeyError``
        for an unknown sheet."""

    def grid_size(self, sheet: str | None) -> tuple[int, int]: ...


_TOKEN = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<string>"(?:[^"]|"")*")
  | (?P<ref>(?:(?:'(?:[^']|'')+'|[A-Za-z_][\w.]*)!)?
        (?:\$?[A-Za-z]{1,3}\$?\d+(?::\$?[A-Za-z]{1,3}\$?\d+)?
          |\$?[A-Za-z]{1,3}:\$?[A-Za-z]{1,3}
          |\$?\d+:\$?\d+)(?![\w(]))
  | (?P<func>[A-Za-z_][\w.]*(?=\s*\())
  | (?P<bool>(?i:TRUE|FALSE)(?![\w(]))
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<op><=|>=|<>|[-+*/^&=<>%(),;])
    """,
    re.VERBOSE,
)

Node = tuple[Any, ...]


def _tokenize(text: str) -> list[tuple[str, str]]:
    pos = 0
    out: list[tuple[str, str]] = []
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:
            raise Unsupported(text[pos:])
        pos = m.end()
        kind = m.lastgroup or ""
        if kind != "ws":
            out.append((kind, m.group()))
    return out


class _Parser:
    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        tok = self.peek()
        if tok is None:
            raise _Fail("#ERROR!")
        self.i += 1
        return tok

    def accept(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok and tok[0] == "op" and tok[1] in ops:
            self.i += 1
            return tok[1]
        return None

    def parse(self) -> Node:
        node = self.comparison()
        if self.peek() is not None:
            raise _Fail("#ERROR!")
        return node

    def _binary(self, ops: tuple[str, ...], sub: Callable[[], Node]) -> Node:
        node = sub()
        while (op := self.accept(*ops)) is not None:
            node = ("bin", op, node, sub())
        return node

    def comparison(self) -> Node:
        return self._binary(("=", "<>", "<", ">", "<=", ">="), self.concat)

    def concat(self) -> Node:
        return self._binary(("&",), self.additive)

    def additive(self) -> Node:
        return self._binary(("+", "-"), self.term)

    def term(self) -> Node:
        return self._binary(("*", "/"), self.power)

    def power(self) -> Node:
        return self._binary(("^",), self.unary)

    def unary(self) -> Node:
        op = self.accept("-", "+")
        if op:
            return ("neg", self.unary()) if op == "-" else self.unary()
        node = self.primary()
        while self.accept("%"):
            node = ("pct", node)
        return node

    def primary(self) -> Node:
        kind, text = self.take()
        if kind == "number":
            return ("lit", float(text))
        if kind == "string":
            return ("lit", text[1:-1].replace('""', '"'))
        if kind == "bool":
            return ("lit", text.upper() == "TRUE")
        if kind == "ref":
            return ("ref", *_parse_ref(text))
        if kind == "func":
            self.accept("(")
            args: list[Node] = []
            if not self.accept(")"):
                while True:
                    args.append(self.comparison())
                    if self.accept(")"):
                        break
                    if not self.accept(",", ";"):
                        raise _Fail("#ERROR!")
            return ("call", text.upper(), args)
        if kind == "op" and text == "(":
            node = self.comparison()
            if not self.accept(")"):
                raise _Fail("#ERROR!")
            return node
        raise _Fail("#ERROR!")


def _parse_ref(text: str) -> tuple[str | None, int | None, int | None, int | None, int | None]:
    sheet: str | None = None
    if "!" in text:
        sheet, _, text = text.rpartition("!")
        if sheet.startswith("'"):
            sheet = sheet[1:-1].replace("''", "'")
    parts = text.replace("$", "").split(":")

    def cell(part: str) -> tuple[int | None, int | None]:
        m = re.fullmatch(r"([A-Za-z]*)(\d*)", part)
        assert m is not None
        col = col_to_index(m[1]) if m[1] else None
        row = int(m[2]) - 1 if m[2] else None
        return row, col

    r0, c0 = cell(parts[0])
    r1, c1 = cell(parts[-1])
    return sheet, r0, c0, r1, c1


@dataclass
class _Range:
    values: list[Scalar]

    def __iter__(self) -> Iterator[Scalar]:
        return iter(self.values)


def _num(value: Any) -> float:
    if isinstance(value, _Range):
        raise _Fail("#VALUE!")
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, ErrorValue):
        raise _Fail(str(value))
    try:
        return float(str(value).strip())
    except ValueError:
        raise _Fail("#VALUE!") from None


def _text(value: Any) -> str:
    if isinstance(value, ErrorValue):
        raise _Fail(str(value))
    if value is None:
        return ""
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, (int, float)):
        return format_general(value)
    return str(value)


def _compare(op: str, a: Any, b: Any) -> bool:
    # An empty cell compares as "" against text and as 0 against numbers.
    if a is None:
        a = "" if isinstance(b, str) else 0.0
    if b is None:
        b = "" if isinstance(a, str) else 0.0
    if isinstance(a, str) and isinstance(b, str):
        a, b = a.lower(), b.lower()
    elif isinstance(a, str) or isinstance(b, str):
        # Google orders every number before every string.
        a, b = int(isinstance(a, str)), int(isinstance(b, str))
    else:
        a, b = _num(a), _num(b)
    return {
        "=": a == b,
        "<>": a != b,
        "<": a < b,
        ">": a > b,
        "<=": a <= b,
        ">=": a >= b,
    }[op]


class _Evaluator:
    def __init__(self, ctx: FormulaContext, sheet: str | None) -> None:
        self.ctx = ctx
        self.sheet = sheet

    def eval(self, node: Node) -> Any:
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "ref":
            return self.ref(*node[1:])
        if kind == "neg":
            return -_num(self.scalar(node[1]))
        if kind == "pct":
            return _num(self.scalar(node[1])) / 100
        if kind == "bin":
            return self.binary(node[1], self.scalar(node[2]), self.scalar(node[3]))
        if kind == "call":
            return self.call(node[1], node[2])
        raise Unsupported(kind)

    def scalar(self, node: Node) -> Any:
        value = self.eval(node)
        if isinstance(value, _Range):
            if len(value.values) == 1:
                return value.values[0]
            raise _Fail("#VALUE!")
        if isinstance(value, ErrorValue):
            raise _Fail(str(value))
        return value

    def ref(
        self, sheet: str | None, r0: int | None, c0: int | None, r1: int | None, c1: int | None
    ) -> Any:
        sheet = sheet if sheet is not None else self.sheet
        try:
            rows, cols = self.ctx.grid_size(sheet)
        except KeyError:
            raise _Fail("#REF!") from None
        single = r0 == r1 and c0 == c1 and r0 is not None and c0 is not None
        if single:
            assert r0 is not None and c0 is not None
            return self.ctx.cell_value(sheet, r0, c0)
        top, left = r0 or 0, c0 or 0
        bottom = r1 if r1 is not None else rows - 1
        right = c1 if c1 is not None else cols - 1
        bottom, right = min(bottom, rows - 1), min(right, cols - 1)
        return _Range(
            [
                self.ctx.cell_value(sheet, r, c)
                for r in range(top, bottom + 1)
                for c in range(left, right + 1)
            ]
        )

    def binary(self, op: str, a: Any, b: Any) -> Any:
        if op == "&":
            return _text(a) + _text(b)
        if op in ("=", "<>", "<", ">", "<=", ">="):
            return _compare(op, a, b)
        x, y = _num(a), _num(b)
        if op == "+":
            return x + y
        if op == "-":
            return x - y
        if op == "*":
            return x * y
        if op == "/":
            if y == 0:
                raise _Fail("#DIV/0!")
            return x / y
        if op == "^":
            try:
                return math.pow(x, y)
            except (OverflowError, ValueError):
                raise _Fail("#NUM!") from None
        raise Unsupported(op)

    def flat(self, args: list[Node]) -> list[Scalar]:
        out: list[Scalar] = []
        for arg in args:
            value = self.eval(arg)
            if isinstance(value, _Range):
                out.extend(value.values)
            else:
                out.append(value)
        return out

    def numbers(self, args: list[Node]) -> list[float]:
        # Like Google: numbers inside ranges count, text and blanks in ranges
        # are skipped; a literal argument must itself be a number.
        out: list[float] = []
        for arg in args:
            value = self.eval(arg)
            if isinstance(value, _Range):
                for item in value.values:
                    if isinstance(item, ErrorValue):
                        raise _Fail(str(item))
                    if isinstance(item, (int, float)) and not isinstance(item, bool):
                        out.append(float(item))
            else:
                out.append(_num(value))
        return out

    def call(self, name: str, args: list[Node]) -> Any:
        if name == "IF":
            if not 2 <= len(args) <= 3:
                raise _Fail("#N/A")
            if _truthy(self.scalar(args[0])):
                return self.scalar(args[1])
            return self.scalar(args[2]) if len(args) == 3 else False
        if name == "IFERROR":
            try:
                return self.scalar(args[0])
            except _Fail:
                return self.scalar(args[1]) if len(args) > 1 else ""
        if name == "SUM":
            return sum(self.numbers(args))
        if name in ("MIN", "MAX"):
            values = self.numbers(args)
            return (min if name == "MIN" else max)(values) if values else 0.0
        if name == "AVERAGE":
            values = self.numbers(args)
            if not values:
                raise _Fail("#DIV/0!")
            return sum(values) / len(values)
        if name == "COUNT":
            return float(
                sum(
                    1
                    for v in self.flat(args)
                    if isinstance(v, (int, float)) and not isinstance(v, bool)
                )
            )
        if name == "COUNTA":
            return float(sum(1 for v in self.flat(args) if v not in (None, "")))
        if name in ("AND", "OR"):
            flags = [_truthy(v) for v in self.flat(args) if v is not None]
            return all(flags) if name == "AND" else any(flags)
        if name == "NOT":
            return not _truthy(self.scalar(args[0]))
        if name in ("ROUND", "ROUNDUP", "ROUNDDOWN"):
            value = _num(self.scalar(args[0]))
            places = int(_num(self.scalar(args[1]))) if len(args) > 1 else 0
            return _round(name, value, places)
        if name == "INT":
            return float(math.floor(_num(self.scalar(args[0]))))
        if name == "ABS":
            return abs(_num(self.scalar(args[0])))
        if name == "MOD":
            divisor = _num(self.scalar(args[1]))
            if divisor == 0:
                raise _Fail("#DIV/0!")
            return _num(self.scalar(args[0])) % divisor
        if name in ("CONCATENATE", "CONCAT"):
            return "".join(_text(v) for v in self.flat(args))
        if name == "LEN":
            return float(len(_text(self.scalar(args[0]))))
        if name in ("UPPER", "LOWER", "TRIM"):
            text = _text(self.scalar(args[0]))
            if name == "TRIM":
                return " ".join(text.split())
            return text.upper() if name == "UPPER" else text.lower()
        if name == "HYPERLINK":
            # The cell shows the label (or the URL when there is no label).
            return _text(self.scalar(args[-1]))
        raise Unsupported(name)


def _truthy(value: Any) -> bool:
    if isinstance(value, str):
        upper = value.upper()
        if upper in ("TRUE", "FALSE"):
            return upper == "TRUE"
        raise _Fail("#VALUE!")
    return bool(_num(value))


def _round(name: str, value: float, places: int) -> float:
    factor = 10.0**places
    scaled = value * factor
    if name == "ROUNDUP":
        scaled = math.ceil(abs(scaled)) * (1 if value >= 0 else -1)
    elif name == "ROUNDDOWN":
        scaled = math.floor(abs(scaled)) * (1 if value >= 0 else -1)
    else:  # spreadsheet rounding is half away from zero, not banker's rounding
        scaled = math.floor(abs(scaled) + 0.5) * (1 if value >= 0 else -1)
    return scaled / factor


def evaluate(formula: str, ctx: FormulaContext, sheet: str | None) -> Scalar:
    """Evaluate ``formula`` (with its leading ``=``) on ``sheet``.

    Returns the value, an :class:`ErrorValue`, or raises :class:`Unsupported`.
    """
    body = formula[1:] if formula.startswith("=") else formula
    try:
        node = _Parser(_tokenize(body)).parse()
        result = _Evaluator(ctx, sheet).scalar(node)
    except _Fail as fail:
        return ErrorValue(fail.code)
    if isinstance(result, float):
        if not math.isfinite(result):
            return ErrorValue("#NUM!")
        if result == int(result) and abs(result) < 2**53:
            return int(result)
    if result is None:
        return 0  # a formula pointing at an empty cell shows 0
    return result
