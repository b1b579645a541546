"""schema.org Product/Offer data out of a product page (extruct: JSON-LD,
microdata, RDFa), as :class:`~ops_sheets.domain.listings.PageProduct` facts.

extruct does the parsing (the page's HTML, JSON-LD blocks, microdata scopes and
RDFa triples); this module only walks what it returns: JSON-LD ``@graph``
wrappers (WooCommerce, Yoast), ``ProductGroup`` with ``hasVariant`` (Shopify's
newer themes), offers given as one object, a list or an ``AggregateOffer``,
prices in ``priceSpecification``, and RDFa's expanded form (full property IRIs,
nodes linked by ``@id``). Every product found becomes one PageProduct per offer
(an offer's own sku/gtin win over the product's), so the job can pick the one
for the sheet's SKU.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import extruct

from ops_sheets.domain.listings import PageProduct

SYNTAXES = ["json-ld", "microdata", "rdfa"]
_GTIN_KEYS = ("gtin", "gtin13", "gtin12", "gtin14", "gtin8", "isbn")
_SCHEMA = re.compile(r"^https?://schema\.org/")


def products(html: str, url: str) -> list[PageProduct]:
    """Every product/offer the page describes, JSON-LD first; [] when none (or the
    page cannot be parsed at all).

    RDFa is read only when JSON-LD and microdata give no product and the page has
    RDFa markup at all: its parser (rdflib) costs ~100 times the other two, and
    the platforms' themes give JSON-LD.
    """
    out = _extract(html, url, ["json-ld", "microdata"])
    if not out and ("typeof=" in html or "vocab=" in html):
        out = _extract(html, url, ["rdfa"])
    return out


def _extract(html: str, url: str, syntaxes: list[str]) -> list[PageProduct]:
    try:
        data = extruct.extract(html, base_url=url, syntaxes=syntaxes, uniform=True, errors="ignore")
    except Exception:  # extruct raises whatever its parsers raise on broken markup
        return []
    out: list[PageProduct] = []
    for syntax in syntaxes:
        items = data.get(syntax) or []
        if syntax == "rdfa":
            items = _compact_rdfa(items)
        for node in _nodes(items):
            out += _from_product(node, syntax)
    return out


# ---------------------------------------------------------------- walking


def _nodes(items: Iterable[Any]) -> Iterator[Mapping[str, Any]]:
    """Every Product in ``items``: top level, inside @graph, variants of a group."""
    for item in items:
        if not isinstance(item, Mapping):
            continue
        graph = item.get("@graph")
        if isinstance(graph, list):
            yield from _nodes(graph)
        types = _types(item)
        if "ProductGroup" in types:
            variants = _list(item.get("hasVariant"))
            for v in variants:
                if isinstance(v, Mapping):
                    yield {**_inherited(item), **v}
            if not variants:
                yield item
        elif "Product" in types or "IndividualProduct" in types or "ProductModel" in types:
            yield item


def _inherited(group: Mapping[str, Any]) -> dict[str, Any]:
    return {k: group[k] for k in ("name", "description", "image", "brand") if k in group}


def _types(node: Mapping[str, Any]) -> set[str]:
    return {_SCHEMA.sub("", str(t)) for t in _list(node.get("@type"))}


def _from_product(node: Mapping[str, Any], syntax: str) -> list[PageProduct]:
    base = {
        "name": _text(node.get("name")),
        "image": _image(node.get("image")),
        "description": _text(node.get("description")),
        "gtin": _gtin(node),
        "sku": _text(node.get("sku")),
        "source": syntax,
    }
    offers = [o for o in _offers(node.get("offers")) if isinstance(o, Mapping)]
    if not offers:
        return [PageProduct(**base)]
    out = []
    for offer in offers:
        spec = _first(offer.get("priceSpecification"))
        spec = spec if isinstance(spec, Mapping) else {}
        price = _price(offer.get("price"))
        if price is None:
            price = _price(spec.get("price"))
        if price is None:
            price = _price(offer.get("lowPrice"))
        currency = _text(offer.get("priceCurrency")) or _text(spec.get("priceCurrency"))
        out.append(
            PageProduct(
                **{
                    **base,
                    "sku": _text(offer.get("sku")) or base["sku"],
                    "gtin": _gtin(offer) or base["gtin"],
                },
                price=price,
                currency=currency.upper(),
                availability=_availability(offer.get("availability")),
            )
        )
    return out


def _offers(value: Any) -> list[Any]:
    out = []
    for offer in _list(value):
        if isinstance(offer, Mapping) and "AggregateOffer" in _types(offer):
            inner = _list(offer.get("offers"))
            out += inner if inner else [offer]
        else:
            out.append(offer)
    return out


# ---------------------------------------------------------------- values


def _list(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _first(value: Any) -> Any:
    values = _list(value)
    return values[0] if values else None


def _text(value: Any) -> str:
    value = _first(value)
    if isinstance(value, Mapping):
        value = value.get("@value", value.get("name", value.get("@id", "")))
    if value is None:
        return ""
    return " ".join(str(value).split())


def _image(value: Any) -> str:
    value = _first(value)
    if isinstance(value, Mapping):
        value = value.get("url") or value.get("contentUrl") or value.get("@id") or ""
        return _text(value)
    return _text(value)


def _gtin(node: Mapping[str, Any]) -> str:
    for key in _GTIN_KEYS:
        text = _text(node.get(key))
        if text:
            return text
    return ""


def _availability(value: Any) -> str:
    """``http://schema.org/InStock`` → ``InStock``; blank when not given."""
    text = _text(value)
    return _SCHEMA.sub("", text).rsplit("/", 1)[-1]


def _price(value: Any) -> float | None:
    value = _first(value)
    if isinstance(value, Mapping):
        value = value.get("@value")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    text = re.sub(r"[^0-9.,]", "", value)
    if "," in text and "." in text:
        text = text.replace(",", "")
    elif "," in text:
        text = text.replace(",", ".")
    with contextlib.suppress(ValueError):
        return float(text)
    return None


# ---------------------------------------------------------------- RDFa


def _compact_rdfa(items: Iterable[Any]) -> list[dict[str, Any]]:
    """extruct's RDFa (expanded JSON-LD: full IRIs, links by @id) → nested nodes
    keyed by schema.org's short names, the shape the other two syntaxes have."""
    by_id = {i.get("@id"): i for i in items if isinstance(i, Mapping)}

    def compact(node: Mapping[str, Any], depth: int = 0) -> dict[str, Any]:
        out: dict[str, Any] = {"@type": [_SCHEMA.sub("", t) for t in _list(node.get("@type"))]}
        for key, values in node.items():
            if key.startswith("@") or not _SCHEMA.match(key):
                continue
            short = _SCHEMA.sub("", key)
            converted = []
            for v in _list(values):
                if isinstance(v, Mapping) and "@value" in v:
                    converted.append(v["@value"])
                elif isinstance(v, Mapping) and "@id" in v:
                    linked = by_id.get(v["@id"])
                    if linked is not None and depth < 4 and "@type" in linked:
                        converted.append(compact(linked, depth + 1))
                    else:
                        converted.append(v["@id"])
            out[short] = converted if len(converted) != 1 else converted[0]
        return out

    return [compact(i) for i in by_id.values() if isinstance(i, Mapping) and "@type" in i]
