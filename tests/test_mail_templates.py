"""Template rendering: every kind, strict variables, escaping, sandbox, overrides."""

from __future__ import annotations

import re
from email import message_from_bytes, policy
from pathlib import Path

import pytest
from mailfixtures import make_settings

from ops_sheets.errors import TemplateError
from ops_sheets.mail.review import preview
from ops_sheets.mail.samples import sample_context, write_preview
from ops_sheets.mail.templates import (
    KINDS,
    PARTS,
    TemplateRenderer,
    TemplateRenderError,
    bundled_templates_dir,
)


@pytest.fixture
def renderer(tmp_path: Path) -> TemplateRenderer:
    return TemplateRenderer(make_settings(tmp_path, transport="outbox"))


def test_bundled_templates_exist_for_every_kind() -> None:
    root = bundled_templates_dir()
    for kind in KINDS:
        for part in PARTS:
            assert (root / kind / part).is_file(), f"{kind}/{part} missing"


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_renders_its_sample_as_email_safe_html_and_plain_text(
    renderer: TemplateRenderer, kind: str
) -> None:
    out = renderer.render(kind, sample_context(kind))
    assert out.subject and "\n" not in out.subject
    assert len(out.text.strip().splitlines()) >= 3
    assert "<" not in re.sub(r"<(?:ops|https?)[^>]*>", "", out.text)  # no markup in text
    html = out.html.lower()
    assert "<table" in html and 'style="' in html  # tables and inline CSS
    assert "<style" not in html and "<link" not in html and "<script" not in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", html)  # nothing remote
    assert "sample_context" not in out.text  # sanity: real values rendered


def test_undefined_variable_is_an_error_naming_template_and_variable(
    renderer: TemplateRenderer,
) -> None:
    context = sample_context("purchase_order")
    del context["po_number"]
    with pytest.raises(TemplateRenderError) as info:
        renderer.render("purchase_order", context)
    err = info.value
    assert err.variable == "po_number"
    assert err.template == "purchase_order/subject.txt" and err.line == 1
    assert "purchase_order/subject.txt line 1" in str(err) and "'po_number'" in str(err)


def test_missing_attribute_names_the_attribute_and_line(renderer: TemplateRenderer) -> None:
    context = sample_context("pickup_request")
    del context["parcels"][1]["postcode"]
    with pytest.raises(TemplateRenderError) as info:
        renderer.render("pickup_request", context)
    assert info.value.variable == "postcode"
    assert info.value.template == "pickup_request/body.txt"
    assert "p.postcode" in str(info.value)  # the offending template line is quoted


def test_html_values_are_escaped_in_html_but_literal_in_text(renderer: TemplateRenderer) -> None:
    context = sample_context("return_acknowledgement")
    context["customer_name"] = '<script>alert("x")</script> & <b>Co</b>'
    out = renderer.render("return_acknowledgement", context)
    assert "<script>" not in out.html and "<b>Co</b>" not in out.html
    assert "&lt;script&gt;" in out.html and "&amp; &lt;b&gt;Co&lt;/b&gt;" in out.html
    assert '<script>alert("x")</script> & <b>Co</b>' in out.text


def test_multiline_values_become_line_breaks_in_html(renderer: TemplateRenderer) -> None:
    context = sample_context("purchase_order")
    context["delivery_address"] = "Unit <4>\nBristol"
    out = renderer.render("purchase_order", context)
    assert "Unit &lt;4&gt;<br>Bristol" in out.html


def test_a_user_template_overrides_the_bundled_one_file_by_file(tmp_path: Path) -> None:
    custom = tmp_path / "my-templates" / "purchase_order"
    custom.mkdir(parents=True)
    (custom / "subject.txt").write_text("PO {{ po_number }} – please confirm\n", encoding="utf-8")
    settings = make_settings(tmp_path, transport="outbox", templates_dir="my-templates")
    out = TemplateRenderer(settings).render("purchase_order", sample_context("purchase_order"))
    assert out.subject == "PO PO-20261123-ACME – please confirm"
    assert "Please supply the following items" in out.text  # bundled body still used


def test_the_sandbox_refuses_internals_and_mutation(tmp_path: Path) -> None:
    custom = tmp_path / "templates" / "purchase_order"
    custom.mkdir(parents=True)
    settings = make_settings(tmp_path, transport="outbox")
    for source in ("{{ ''.__class__.__mro__ }}", "{{ lines.append(1) }}"):
        (custom / "subject.txt").write_text(source, encoding="utf-8")
        with pytest.raises(TemplateError, match=r"purchase_order/subject\.txt"):
            TemplateRenderer(settings).render("purchase_order", sample_context("purchase_order"))


def test_a_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    custom = tmp_path / "templates" / "po_reminder"
    custom.mkdir(parents=True)
    (custom / "body.txt").write_text("Hello\n{% if %}\n", encoding="utf-8")
    settings = make_settings(tmp_path, transport="outbox")
    with pytest.raises(TemplateRenderError, match=r"po_reminder/body.txt line 2: syntax error"):
        TemplateRenderer(settings).render("po_reminder", sample_context("po_reminder"))


def test_an_unknown_kind_is_an_error(renderer: TemplateRenderer) -> None:
    with pytest.raises(TemplateError, match="unknown email kind"):
        renderer.render("invoice", {})


def test_filters_format_money_numbers_and_dates(renderer: TemplateRenderer) -> None:
    env = renderer.env
    template = env.from_string(
        "{{ 1234.5|money('GBP') }} {{ -3|money('CHF') }} {{ 1200|number }} {{ 2.5|number }} "
        "{{ d|date }} {{ 'soon'|date }}"
    )
    from datetime import date

    assert template.render(d=date(2026, 11, 23)) == (
        "£1,234.50 -3.00 CHF 1,200 2.50 Mon 23 Nov 2026 soon"
    )


def test_preview_writes_a_browser_page_and_the_real_message(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, transport="outbox")
    path = write_preview(settings, "weekly_summary")
    assert path == tmp_path / "outbox" / "preview" / "weekly_summary.html"
    page = path.read_text(encoding="utf-8")
    assert "Subject:" in page and "data:image/png;base64," in page  # charts visible offline
    eml = message_from_bytes(path.with_suffix(".eml").read_bytes(), policy=policy.default)
    cids = {p["Content-ID"] for p in eml.walk() if p.get_content_type() == "image/png"}
    assert cids == {"<revenue-chart>", "<orders-chart>"}


def test_the_cli_preview_returns_the_page_path(tmp_path: Path) -> None:
    path = preview("pickup_request", make_settings(tmp_path, transport="outbox"))
    assert path.is_file() and path.name == "pickup_request.html"


def test_preview_of_an_unknown_kind_is_a_template_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateError, match="no sample data"):
        write_preview(make_settings(tmp_path, transport="outbox"), "invoice")


def test_readme_documents_every_kind_and_every_top_level_variable() -> None:
    readme = (bundled_templates_dir() / "README.md").read_text(encoding="utf-8")
    for kind in KINDS:
        assert f"`{kind}`" in readme, kind
        section = readme.split(f"`{kind}`", 1)[1].split("\n## ", 1)[0]
        for variable in sample_context(kind):
            assert f"`{variable}`" in section, f"{kind}: {variable} undocumented"
