"""Delivery end to end: real aiosmtpd servers, real ledgers, real child processes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from mailfixtures import (
    HOOK_EXIT,
    NOW,
    Behaviour,
    child_outcomes,
    make_settings,
    po_emails,
    run_child,
    smtp_server,
    start_child,
)

from ops_sheets.errors import LedgerError
from ops_sheets.mail.message import Origin, csv_attachment
from ops_sheets.mail.postman import OutgoingEmail, Postman, Prepared, Rejected
from ops_sheets.mail.review import (
    delivery_findings,
    review,
    review_message,
    review_status_lines,
)
from ops_sheets.mail.samples import sample_context, sample_inline_images
from ops_sheets.mail.templates import TemplateRenderer
from ops_sheets.mail.transports import OutboxTransport
from ops_sheets.store.ledger import FAILED, FAILED_PERMANENT, PLANNED, SENT, UNKNOWN, Ledger

KEY = "po:PO-20261123-S000"


_OPEN: list[Ledger] = []


@pytest.fixture(autouse=True)
def _close_ledgers():
    yield
    while _OPEN:
        _OPEN.pop().close()


def postman_for(tmp_path: Path, port: int, **kwargs) -> tuple[Postman, Ledger]:
    settings = make_settings(tmp_path, port=port, **kwargs)
    ledger = Ledger.from_settings(settings)
    _OPEN.append(ledger)
    return Postman(settings, ledger), ledger


def test_rerunning_a_job_on_the_same_day_sends_nothing_twice(tmp_path: Path) -> None:
    with smtp_server() as server:
        postman, _ = postman_for(tmp_path, server.port)
        first = postman.deliver(po_emails(3), job="stock", now=NOW)
        second = postman.deliver(po_emails(3), job="stock", now=NOW + timedelta(hours=3))
    assert first.counts["sent"] == 3 and first.ok
    assert second.counts["already_sent"] == 3 and second.counts["sent"] == 0
    assert sorted(server.keys()) == sorted(e.key for e in po_emails(3))
    assert len(server.handler.sessions) == 1  # one connection for the batch
    assert [a.action for a in second.activity] == []  # nothing happened, nothing logged


def test_a_crash_after_the_server_accepted_the_data_is_never_resent_automatically(
    tmp_path: Path,
) -> None:
    with smtp_server() as server:
        child = run_child({"base_dir": str(tmp_path), "port": server.port, "hook": "after_data"})
        assert child.returncode == HOOK_EXIT, child.stderr
        assert server.keys() == [KEY]

        postman, ledger = postman_for(tmp_path, server.port)
        report = postman.deliver(po_emails(1), job="stock", now=NOW + timedelta(hours=1))
        assert report.outcome(KEY).status == "awaiting_review"  # type: ignore[union-attr]
        assert server.keys() == [KEY]  # not resent
        [logged] = report.activity  # what the crashed run could not log itself
        assert logged.action == "Email outcome unknown" and f"review {KEY}" in logged.result
        row = ledger.get(KEY)
        assert row is not None and row.state == UNKNOWN
        assert any(KEY in line for line in review_status_lines(ledger))

        [finding] = delivery_findings(ledger)
        assert finding["severity"] == "high" and KEY in finding["action"]
        alert = TemplateRenderer(postman.settings).render(
            "manager_alert",
            {
                **sample_context("manager_alert"),
                "findings": [finding],
                "counts": {"high": 1, "medium": 0, "low": 0, "resolved": 0},
            },
        )
        assert f"review {KEY} --sent" in alert.text

        result = review_message(postman.settings, ledger, KEY, "sent", now=NOW + timedelta(hours=2))
        assert result.row.state == SENT and result.activity[0].action == "Email reviewed"
        assert ledger.awaiting_review() == []
        assert postman.deliver(po_emails(1), job="stock", now=NOW).counts["already_sent"] == 1
    assert server.keys() == [KEY]


def test_review_resend_sends_again_with_the_same_message_id(tmp_path: Path) -> None:
    with smtp_server() as server:
        child = run_child({"base_dir": str(tmp_path), "port": server.port, "hook": "after_data"})
        assert child.returncode == HOOK_EXIT, child.stderr
        settings = make_settings(tmp_path, port=server.port)
        with Ledger.from_settings(settings) as ledger:
            ledger.recover(NOW)
        result = review(settings, KEY, "resend", now=NOW + timedelta(hours=1))  # the CLI's call
        assert result.ok and result.row.state == SENT
        assert str(result) == f"{KEY}: resend sent (" + result.row.message_id + ")"
        assert [a.action for a in result.activity] == ["Email reviewed", "Email sent"]
    first, second = server.handler.parsed()
    assert first["Message-ID"] == second["Message-ID"]
    assert first["X-Ops-Key"] == second["X-Ops-Key"] == KEY


def test_a_crash_after_claiming_but_before_data_is_sent_once_by_the_next_run(
    tmp_path: Path,
) -> None:
    with smtp_server() as server:
        child = run_child({"base_dir": str(tmp_path), "port": server.port, "hook": "before_data"})
        assert child.returncode == HOOK_EXIT, child.stderr
        assert server.messages == []
        assert server.handler.rcpt_count == 1  # it got as far as RCPT TO

        postman, _ = postman_for(tmp_path, server.port)
        report = postman.deliver(po_emails(1), job="stock", now=NOW)
        again = postman.deliver(po_emails(1), job="stock", now=NOW)
    assert report.sent == [KEY] and again.counts["already_sent"] == 1
    assert server.keys() == [KEY]


def test_a_crash_right_after_claiming_is_sent_once_by_the_next_run(tmp_path: Path) -> None:
    with smtp_server() as server:
        child = run_child({"base_dir": str(tmp_path), "port": server.port, "hook": "after_claim"})
        assert child.returncode == HOOK_EXIT, child.stderr
        postman, _ = postman_for(tmp_path, server.port)
        assert postman.deliver(po_emails(1), job="stock", now=NOW).sent == [KEY]
    assert server.keys() == [KEY]


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_451_is_retried_after_backoff_and_delivered_once(tmp_path: Path, stage: str) -> None:
    behaviour = Behaviour(**{f"{stage}_reply": "451 4.7.1 Greylisted", f"{stage}_times": 1})
    with smtp_server(behaviour) as server:
        postman, ledger = postman_for(tmp_path, server.port, retry_after_minutes=15)
        first = postman.deliver(po_emails(1), job="stock", now=NOW)
        assert first.outcome(KEY).status == "failed"  # type: ignore[union-attr]
        assert first.outcome(KEY).retry_at == NOW + timedelta(minutes=15)  # type: ignore[union-attr]
        assert "451 4.7.1 Greylisted" in first.activity[0].result
        early = postman.deliver(po_emails(1), job="stock", now=NOW + timedelta(minutes=5))
        assert early.outcome(KEY).status == "failed" and server.messages == []  # type: ignore[union-attr]
        later = postman.deliver(po_emails(1), job="stock", now=NOW + timedelta(minutes=15))
        again = postman.deliver(po_emails(1), job="stock", now=NOW + timedelta(hours=1))
    assert later.sent == [KEY] and again.counts["already_sent"] == 1
    assert server.keys() == [KEY]
    assert ledger.get(KEY).attempts == 2  # type: ignore[union-attr]


def test_a_temporary_failure_is_retried_even_when_the_job_no_longer_produces_it(
    tmp_path: Path,
) -> None:
    behaviour = Behaviour(rcpt_reply="451 4.3.0 Busy", rcpt_times=1)
    with smtp_server(behaviour) as server:
        postman, _ = postman_for(tmp_path, server.port, retry_after_minutes=15)
        postman.deliver(po_emails(1), job="stock", now=NOW)
        assert postman.has_pending() and postman.has_pending("stock")
        assert not postman.has_pending("orders")
        later = postman.deliver([], job="stock", now=NOW + timedelta(minutes=30))
        other_job = postman.deliver([], job="orders", now=NOW + timedelta(minutes=30))
    assert later.sent == [KEY] and other_job.outcomes == []
    assert not postman.has_pending()
    assert server.keys() == [KEY]


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_550_is_never_retried_and_is_reported_to_the_manager(tmp_path: Path, stage: str) -> None:
    origin = Origin("Suppliers", 4, "Email", "Acme")
    email = po_emails(1)[0]
    email.origin = origin
    with smtp_server(Behaviour(**{f"{stage}_reply": "550 5.1.1 Mailbox unavailable"})) as server:
        postman, ledger = postman_for(tmp_path, server.port)
        first = postman.deliver([email], job="stock", now=NOW)
        attempts = server.handler.rcpt_count + server.handler.data_count
        later = postman.deliver([email], job="stock", now=NOW + timedelta(days=2))
        assert server.handler.rcpt_count + server.handler.data_count == attempts  # not retried
    outcome = first.outcome(KEY)
    assert outcome is not None and outcome.status == "failed_permanent" and not first.ok
    assert later.outcome(KEY).status == "failed_permanent"  # type: ignore[union-attr]
    [problem] = first.problems
    assert problem.origin == origin and "550 5.1.1" in problem.problem
    assert ledger.get(KEY).state == FAILED_PERMANENT  # type: ignore[union-attr]
    [finding] = delivery_findings(ledger)
    assert "not delivered" in finding["title"] and "550" in finding["detail"]


def test_after_a_550_a_corrected_address_is_sent_by_the_next_run(tmp_path: Path) -> None:
    email = po_emails(1)[0]
    email.to = "nobody@supplier0.example.com"
    refused = Behaviour(rcpt_reply="550 5.1.1 No such user", rcpt_times=1)
    with smtp_server(refused) as server:
        postman, _ = postman_for(tmp_path, server.port)
        first = postman.deliver([email], job="stock", now=NOW)
        fixed = po_emails(1)  # the team corrected the Email cell
        second = postman.deliver(fixed, job="stock", now=NOW + timedelta(hours=1))
    assert first.outcome(KEY).status == "failed_permanent"  # type: ignore[union-attr]
    assert second.sent == [KEY]
    [received] = server.handler.parsed()
    assert received["To"] == "Supplier 0 <orders0@supplier0.example.com>"


def test_an_answer_after_the_client_timeout_leaves_the_key_unknown(tmp_path: Path) -> None:
    with smtp_server(Behaviour(data_delay=1.5, data_delay_times=1)) as server:
        postman, ledger = postman_for(tmp_path, server.port, timeout=0.4)
        report = postman.deliver(po_emails(1), job="stock", now=NOW)
        again = postman.deliver(po_emails(1), job="stock", now=NOW + timedelta(hours=1))
    assert report.outcome(KEY).status == "unknown" and not report.ok  # type: ignore[union-attr]
    assert report.activity[0].action == "Email outcome unknown"
    assert again.outcome(KEY).status == "awaiting_review"  # type: ignore[union-attr]
    assert ledger.get(KEY).state == UNKNOWN  # type: ignore[union-attr]
    assert server.keys() == [KEY]


def test_an_unknown_customer_acknowledgement_is_resent_automatically(tmp_path: Path) -> None:
    ack = OutgoingEmail(
        kind="return_acknowledgement",
        key="return-ack:RMA-2026-0042",
        to="sam@customer.example.com",
        context=sample_context("return_acknowledgement"),
    )
    with smtp_server(Behaviour(data_delay=1.5, data_delay_times=1)) as server:
        postman, _ = postman_for(tmp_path, server.port, timeout=0.4, retry_after_minutes=0)
        first = postman.deliver([ack], job="returns", now=NOW)
        second = postman.deliver([ack], job="returns", now=NOW + timedelta(minutes=1))
    assert first.outcome(ack.key).status == "failed"  # type: ignore[union-attr]
    assert second.sent == [ack.key]
    ids = {m["Message-ID"] for m in server.handler.parsed()}
    assert len(server.messages) == 2 and len(ids) == 1  # same Message-ID: clients dedupe


def test_two_processes_running_the_same_job_send_each_key_at_most_once(tmp_path: Path) -> None:
    go = tmp_path / "go"
    with smtp_server(Behaviour(data_delay=0.02)) as server:
        params = {"base_dir": str(tmp_path), "port": server.port, "count": 12, "go_file": str(go)}
        children = [start_child(params) for _ in range(2)]
        go.touch()
        results = [c.communicate(timeout=60) for c in children]
    for child, (_, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err
    outcomes = [child_outcomes(out) for out, _ in results]
    assert Counter(server.keys()) == Counter({e.key: 1 for e in po_emails(12)})
    for email in po_emails(12):
        statuses = sorted(o[email.key] for o in outcomes)
        assert statuses.count("sent") == 1, statuses
        assert set(statuses) <= {"sent", "already_sent", "in_progress"}


@pytest.mark.parametrize("cell", ["a@x.com, b@y.com", "orders@acme.example.com\nBcc: x@evil.com"])
def test_a_bad_address_cell_is_rejected_with_a_problem_on_that_row(
    tmp_path: Path, cell: str
) -> None:
    email = po_emails(1)[0]
    email.to = cell
    email.origin = Origin("Suppliers", 7, "Email", "Acme")
    with smtp_server() as server:
        postman, ledger = postman_for(tmp_path, server.port)
        report = postman.deliver([email, *po_emails(1, prefix="T")], job="stock", now=NOW)
    assert report.outcome(KEY).status == "rejected"  # type: ignore[union-attr]
    [problem] = report.problems
    assert problem.origin == Origin("Suppliers", 7, "Email", "Acme") and problem.value == cell
    assert server.keys() == ["po:PO-20261123-T000"]  # the rest still went
    assert ledger.get(KEY) is None


def test_an_undefined_template_variable_sends_nothing_and_names_the_variable(
    tmp_path: Path,
) -> None:
    email = po_emails(1)[0]
    del email.context["expected_by"]
    with smtp_server() as server:
        postman, ledger = postman_for(tmp_path, server.port)
        report = postman.deliver([email], job="stock", now=NOW)
    assert server.messages == [] and ledger.get(KEY) is None
    [problem] = report.problems
    assert "'expected_by' is undefined" in problem.problem
    assert problem.origin.tab == "templates" and problem.origin.column.startswith("purchase_order/")


def test_html_values_are_escaped_in_the_sent_message(tmp_path: Path) -> None:
    email = po_emails(1)[0]
    email.context["supplier"] = {"name": "Acme", "contact": "<img src=x onerror=alert(1)>"}
    with smtp_server() as server:
        postman, _ = postman_for(tmp_path, server.port)
        postman.deliver([email], job="stock", now=NOW)
    [received] = server.handler.parsed()
    html = next(p for p in received.walk() if p.get_content_type() == "text/html")
    body = html.get_payload(decode=True).decode()
    assert "<img src=x" not in body and "&lt;img src=x onerror=alert(1)&gt;" in body


def test_a_changed_body_for_a_sent_key_is_reported_not_sent(tmp_path: Path) -> None:
    with smtp_server() as server:
        postman, ledger = postman_for(tmp_path, server.port)
        postman.deliver(po_emails(1), job="stock", now=NOW)
        changed = po_emails(1)
        changed[0].context["notes"] = "Actually, double the mugs."
        report = postman.deliver(changed, job="stock", now=NOW)
        repeat = postman.deliver(changed, job="stock", now=NOW)
    assert report.outcome(KEY).status == "conflict" and not report.ok  # type: ignore[union-attr]
    assert [a.action for a in report.activity] == ["Email not sent (changed)"]
    assert repeat.activity == []  # the same conflict is logged once
    assert server.keys() == [KEY]
    assert "changed after it was sent" in delivery_findings(ledger, since=NOW)[0]["title"]


def test_a_connection_failure_costs_no_attempt_and_the_next_run_sends(tmp_path: Path) -> None:
    with smtp_server() as server:
        port = server.port
    postman, ledger = postman_for(tmp_path, port, timeout=1)
    report = postman.deliver(po_emails(2), job="stock", now=NOW)
    assert report.counts["failed"] == 2
    assert "not attempted" in report.outcomes[1].detail  # the batch stops at the first
    assert report.problems[0].origin.column == "mail.smtp"
    row = ledger.get(KEY)
    assert row is not None and row.state == PLANNED and row.attempts == 0


def test_prepare_is_a_dry_run_that_writes_nothing(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, transport="outbox")
    bad = po_emails(1, prefix="B")[0]
    bad.to = "not an address"
    postman = Postman(settings, None)
    items = postman.prepare([*po_emails(2), bad])
    assert [type(i) for i in items] == [Prepared, Prepared, Rejected]
    assert [i.ok for i in items] == [True, True, False]
    rejected = items[2]
    assert isinstance(rejected, Rejected) and rejected.value == "not an address"
    assert rejected.fix and rejected.as_problem().problem == rejected.problem
    assert "would send purchase_order [po:PO-20261123-S000]" in items[0].describe()
    assert "Please supply" in items[0].describe()
    assert "not a valid email address" in items[2].describe()
    assert list(tmp_path.iterdir()) == []  # no ledger file, no outbox
    with pytest.raises(LedgerError):
        postman.deliver(po_emails(1), job="stock", now=NOW)


def test_the_outbox_writes_one_eml_per_key_and_an_index_newest_first(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, transport="outbox")
    ledger = Ledger.from_settings(settings)
    _OPEN.append(ledger)
    email = po_emails(1)[0]
    email.key = "po:PO-20261123-ACME"
    email.attachments = [csv_attachment("PO.csv", [["SKU", "Product"], ["A", "=EVIL()"]])]
    weekly = OutgoingEmail(
        kind="weekly_summary",
        key="weekly:2026-W47",
        to=settings.mail.manager,
        context=sample_context("weekly_summary"),
        inline_images=sample_inline_images("weekly_summary"),
    )
    postman = Postman(settings, ledger)
    assert postman.deliver([email], job="stock", now=NOW).ok
    assert postman.deliver([weekly], job="weekly", now=NOW).ok
    outbox = tmp_path / "outbox"
    eml = outbox / "po_PO-20261123-ACME.eml"
    assert sorted(p.name for p in outbox.iterdir()) == [
        "index.html",
        "po_PO-20261123-ACME.eml",
        "weekly_2026-W47.eml",
    ]
    parsed = message_from_bytes(eml.read_bytes())
    assert parsed["X-Ops-Key"] == "po:PO-20261123-ACME"
    index = (outbox / "index.html").read_text(encoding="utf-8")
    assert index.index("weekly:2026-W47") < index.index("po:PO-20261123-ACME")  # newest first
    assert 'href="po_PO-20261123-ACME.eml"' in index
    entries = OutboxTransport(outbox).entries()
    assert [e.key for e in entries] == ["weekly:2026-W47", "po:PO-20261123-ACME"]


def test_activity_entries_carry_wall_clock_utc_time_and_reference(tmp_path: Path) -> None:
    with smtp_server() as server:
        postman, _ = postman_for(tmp_path, server.port)
        report = postman.deliver(po_emails(1), job="stock", now=NOW)
    [entry] = report.activity
    assert entry.time.tzinfo == UTC and entry.time.year >= 2024
    assert (entry.job, entry.action, entry.reference) == ("stock", "Email sent", "PO-20261123-S000")
    assert entry.to == "orders0@supplier0.example.com" and entry.subject.startswith(
        "Purchase order"
    )


def test_the_ledger_knows_failed_rows_for_status(tmp_path: Path) -> None:
    with smtp_server(Behaviour(rcpt_reply="452 4.2.2 Mailbox full")) as server:
        postman, ledger = postman_for(tmp_path, server.port)
        postman.deliver(po_emails(1), job="stock", now=NOW)
    assert ledger.get(KEY).state == FAILED  # type: ignore[union-attr]
    lines = review_status_lines(ledger, postman.settings)
    assert any("Messages to retry (1)" in line for line in lines)
    assert any("452 4.2.2" in line for line in lines)
