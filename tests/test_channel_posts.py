"""Posts to Slack, Teams, Telegram and webhooks against a real local HTTPS server.

The server (tests/channelserver.py) listens on 127.0.0.1 with a certificate from
a throw-away trustme CA that the product trusts only through ``ca_file``; every
post goes through the real ledger (SQLite) and httpx. Waits between retries go
to an injected ``sleep`` that records them: no test sleeps for real.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from channelserver import Answer, ChannelServer, make_ca
from conftest import NOW

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.mail.channels import Channel
from ops_sheets.mail.channels.base import utf16_len
from ops_sheets.mail.channels.http import HttpPoster
from ops_sheets.mail.channels.poster import (
    ChannelMessage,
    ChannelPoster,
    default_http,
    post_key,
)
from ops_sheets.mail.channels.telegram import LIMIT
from ops_sheets.mail.review import review
from ops_sheets.mail.samples import sample_context
from ops_sheets.service.status import collect_status, format_status
from ops_sheets.store.ledger import FAILED, SENT, UNKNOWN, Ledger

SLACK_PATH = "/services/T000/B000/slack-s3cr3t-path"
TEAMS_PATH = "/workflows/teams-s3cr3t-path?sig=teams-signature-s3cr3t"
HOOK_PATH = "/hook/webhook-s3cr3t-path"
TOKEN = "123456789:AAH-telegram-s3cr3t-token-value"


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def server(ca_pem: tuple[Any, Path]) -> Iterator[ChannelServer]:
    srv = ChannelServer(ca_pem[0]).start()
    yield srv
    srv.stop()


def channel_settings(
    tmp_path: Path, server: ChannelServer, ca: Path, monkeypatch: pytest.MonkeyPatch, **extra: Any
) -> Settings:
    monkeypatch.setenv("OPS_TEST_SLACK_URL", server.url(SLACK_PATH))
    monkeypatch.setenv("OPS_TEST_TEAMS_URL", server.url(TEAMS_PATH))
    monkeypatch.setenv("OPS_TEST_HOOK_URL", server.url(HOOK_PATH))
    monkeypatch.setenv("OPS_TEST_TG_TOKEN", TOKEN)
    common = {"ca_file": str(ca), "timeout_seconds": 2.0, **extra}
    kinds = {
        "ops-slack": {"kind": "slack", "url_env": "OPS_TEST_SLACK_URL"},
        "ops-teams": {"kind": "teams", "url_env": "OPS_TEST_TEAMS_URL"},
        "ops-telegram": {
            "kind": "telegram",
            "token_env": "OPS_TEST_TG_TOKEN",
            "chat_id": "-1001234567890",
            "api_url": server.url(""),
        },
        "ops-hook": {"kind": "webhook", "url_env": "OPS_TEST_HOOK_URL"},
    }
    wanted = extra.pop("only", None) or list(kinds)
    common.pop("only", None)
    return settings_from_dict(
        {
            "timezone": "Europe/London",
            "shop_name": "Harbour & Pine",
            "state": {"path": "state.db"},
            "channels": {n: {**kinds[n], **common} for n in wanted},
        },
        base_dir=tmp_path,
        source="test-config.toml",
    )


def alert(
    key: str = "alert:20261123-0900", title: str = "7 order lines are late"
) -> ChannelMessage:
    return ChannelMessage(
        "manager_alert",
        key,
        {
            "shop_name": "Harbour & Pine",
            "generated_at": NOW,
            "findings": [
                {
                    "severity": "high",
                    "title": title,
                    "detail": "Oldest: order 1019.",
                    "action": "Ship them.",
                    "resolved": False,
                },
                {
                    "severity": "low",
                    "title": "A low one",
                    "detail": "",
                    "action": "",
                    "resolved": False,
                },
            ],
            "counts": {"high": 1, "medium": 0, "low": 1, "resolved": 0},
            "still_open": 0,
        },
        "2 finding(s)",
    )


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def poster(settings: Settings, ledger: Ledger, sleeps: Sleeps) -> ChannelPoster:
    def http(channel: Channel) -> HttpPoster:
        return default_http(channel, sleep=sleeps)

    return ChannelPoster(settings, ledger, http=http)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    with Ledger(tmp_path / "state.db") as led:
        yield led


def test_one_post_per_alert_key_across_reruns(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"])
    first = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    again = poster(settings, ledger, sleeps).deliver(
        [alert()], job="monitor", now=NOW + timedelta(minutes=30)
    )
    key = post_key("alert:20261123-0900", "ops-slack")
    assert first.keys("sent") == [key]
    assert again.keys("already_sent") == [key]
    assert len(server.posts) == 1
    assert server.posts[0].path == SLACK_PATH
    row = ledger.get(key)
    assert row is not None and row.state == SENT and row.to == "slack:ops-slack"
    # the ledger stores the body posted, byte for byte, and never the URL
    assert row.message == server.posts[0].body
    assert b"s3cr3t" not in row.message
    # a new alert key is a new post
    later = poster(settings, ledger, sleeps).deliver(
        [alert("alert:20261123-1300")], job="monitor", now=NOW + timedelta(hours=4)
    )
    assert later.keys("sent") == [post_key("alert:20261123-1300", "ops-slack")]
    assert len(server.posts) == 2 and sleeps == []


def test_posts_are_not_counted_as_emails_in_kpis(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-hook"])
    poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    assert ledger.counts_since(NOW - timedelta(days=1)).sent == 0


def test_429_waits_as_long_as_retry_after_asks(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"])
    server.answer(Answer(429, b"rate_limited", {"Retry-After": "7"}), Answer(200, b"ok"))
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    assert report.keys("sent") == [post_key("alert:20261123-0900", "ops-slack")]
    assert sleeps == [7.0]
    assert len(server.posts) == 2 and server.posts[0].body == server.posts[1].body


def test_telegram_429_retry_after_in_the_json_answer_is_respected(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-telegram"])
    too_many = json.dumps(
        {"ok": False, "error_code": 429, "parameters": {"retry_after": 3}}
    ).encode()
    server.answer(Answer(429, too_many), Answer(200, b'{"ok":true,"result":{}}'))
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    assert report.ok and sleeps == [3.0]
    assert server.posts[-1].path == f"/bot{TOKEN}/sendMessage"


def test_retry_after_beyond_the_cap_is_left_to_a_later_run(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(
        tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"], max_retry_wait_seconds=30.0
    )
    server.answer(Answer(429, b"rate_limited", {"Retry-After": "600"}))
    key = post_key("alert:20261123-0900", "ops-slack")
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    assert report.outcome(key).status == "failed"  # type: ignore[union-attr]
    assert sleeps == [] and len(server.posts) == 1
    row = ledger.get(key)
    assert row is not None and row.state == FAILED and row.next_attempt_at is not None
    # before the backoff: nothing; after it, a run with no new message posts it
    poster(settings, ledger, sleeps).deliver([], job="weekly", now=NOW + timedelta(minutes=5))
    assert len(server.posts) == 1
    later = poster(settings, ledger, sleeps).deliver([], job="weekly", now=NOW + timedelta(hours=1))
    assert later.keys("sent") == [key] and len(server.posts) == 2


def test_500_then_success_backs_off_and_posts_once(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-teams"])
    server.answer(Answer(500, b"oops"), Answer(503, b"busy"), Answer(200, b"1"))
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    key = post_key("alert:20261123-0900", "ops-teams")
    assert report.keys("sent") == [key]
    assert sleeps == [1.0, 2.0]  # first_backoff × 2^n
    assert len(server.posts) == 3
    assert server.posts[0].path == TEAMS_PATH
    assert ledger.get(key).state == SENT  # type: ignore[union-attr]


def test_500_every_time_fails_temporarily_after_max_retries(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(
        tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"], max_retries=2
    )
    server.answer(*[Answer(500, b"down")] * 3)
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    key = post_key("alert:20261123-0900", "ops-slack")
    assert report.outcome(key).status == "failed"  # type: ignore[union-attr]
    assert len(server.posts) == 3 and sleeps == [1.0, 2.0]
    assert ledger.get(key).state == FAILED  # type: ignore[union-attr]
    assert not report.ok


def test_a_refusal_is_permanent_and_not_retried(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"])
    server.answer(Answer(404, b"no_service"))
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    key = post_key("alert:20261123-0900", "ops-slack")
    assert report.outcome(key).status == "failed_permanent"  # type: ignore[union-attr]
    assert "404" in report.outcome(key).detail  # type: ignore[union-attr]
    poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW + timedelta(days=1))
    assert len(server.posts) == 1 and sleeps == []
    assert report.problems and "review" in report.problems[0].fix


def test_timeout_after_sending_is_unknown_never_retried_and_shown_by_status(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(
        tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"], timeout_seconds=0.3
    )
    server.answer(Answer(200, b"ok", delay=1.5))
    key = post_key("alert:20261123-0900", "ops-slack")
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    assert report.outcome(key).status == "unknown"  # type: ignore[union-attr]
    assert ledger.get(key).state == UNKNOWN  # type: ignore[union-attr]
    assert "may or may not have arrived" in report.outcome(key).detail  # type: ignore[union-attr]
    assert any("review" in a.result for a in report.activity)
    # a later run does not post it again
    again = poster(settings, ledger, sleeps).deliver(
        [alert()], job="monitor", now=NOW + timedelta(hours=2)
    )
    assert again.outcome(key).status == "awaiting_review"  # type: ignore[union-attr]
    assert len(server.posts) == 1 and sleeps == []
    # status lists it for review
    status = collect_status(settings, NOW)
    assert [m["key"] for m in status["awaiting_review"]] == [key]
    assert any(key in line and "slack:ops-slack" in line for line in format_status(status))
    # settling it: --resend posts the stored body again
    result = review(settings, key, "resend", now=NOW + timedelta(hours=3))
    assert result.ok and ledger.get(key).state == SENT  # type: ignore[union-attr]
    assert len(server.posts) == 2 and server.posts[1].body == server.posts[0].body


def test_unset_variable_leaves_the_post_waiting_until_it_is_set(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"])
    monkeypatch.delenv("OPS_TEST_SLACK_URL")
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    key = post_key("alert:20261123-0900", "ops-slack")
    assert report.outcome(key).status == "failed"  # type: ignore[union-attr]
    assert "OPS_TEST_SLACK_URL is not set" in report.problems[0].problem
    assert server.posts == []
    monkeypatch.setenv("OPS_TEST_SLACK_URL", server.url(SLACK_PATH))
    later = poster(settings, ledger, sleeps).deliver([], job="stock", now=NOW + timedelta(hours=1))
    assert later.keys("sent") == [key] and len(server.posts) == 1


def test_an_untrusted_certificate_is_refused(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(
        tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"], ca_file=""
    )
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    outcome = report.outcome(post_key("alert:20261123-0900", "ops-slack"))
    assert outcome is not None and outcome.status == "failed"
    assert "certificate" in outcome.detail and "ca_file" in outcome.detail
    assert server.posts == []


NASTY = '<b>Mugs & "Jugs"</b> *sale* _now_ <!channel> [x](https://evil.example)'


def test_special_characters_in_a_product_name_are_escaped_per_channel(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch)
    server.answer(Answer(200, b"ok"), Answer(200, b"1"), Answer(200, b'{"ok":true}'), Answer())
    report = poster(settings, ledger, sleeps).deliver(
        [alert(title=f"Possible faulty product: {NASTY}")], job="monitor", now=NOW
    )
    assert report.ok and len(server.posts) == 4
    by_path = {p.path.split("?")[0]: p.json for p in server.posts}

    slack = json.dumps(by_path[SLACK_PATH]["blocks"])
    assert '&lt;b&gt;Mugs &amp; \\"Jugs\\"&lt;/b&gt;' in slack
    assert "&lt;!channel&gt;" in slack and "<!channel>" not in slack
    assert "<b>" not in slack

    card = by_path[TEAMS_PATH.split("?")[0]]["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    runs = [i for block in card["content"]["body"] for i in block["inlines"]]
    assert all(r["type"] == "TextRun" for r in runs)  # never read as markdown
    assert any(NASTY in r["text"] for r in runs)  # so shown exactly as typed
    assert by_path[TEAMS_PATH.split("?")[0]]["type"] == "message"

    telegram = by_path[f"/bot{TOKEN}/sendMessage"]
    assert telegram["parse_mode"] == "HTML" and telegram["chat_id"] == "-1001234567890"
    assert '&lt;b&gt;Mugs &amp; "Jugs"&lt;/b&gt;' in telegram["text"]
    assert "&lt;!channel&gt;" in telegram["text"]
    assert telegram["text"].startswith("<b>Harbour &amp; Pine: 1 urgent finding</b>")

    hook = by_path[HOOK_PATH]
    assert NASTY in hook["text"] and hook["key"] == "alert:20261123-0900"
    assert hook["message"] == "manager_alert"


def test_only_findings_at_min_severity_are_posted(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-hook"])
    poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    (post,) = server.posts
    assert "7 order lines are late" in post.json["text"]
    assert "A low one" not in post.json["text"]
    assert "1 less urgent finding" in post.json["text"]
    low_only = alert("alert:low")
    low_only.context["findings"].pop(0)  # type: ignore[attr-defined]
    report = poster(settings, ledger, sleeps).deliver([low_only], job="monitor", now=NOW)
    assert report.outcomes == [] and len(server.posts) == 1


def test_a_long_telegram_message_is_split_on_line_boundaries(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-telegram"])
    message = alert()
    findings = [
        {
            "severity": "high",
            "title": f"Order {n} is late & <stuck>",
            "detail": "x" * 150,
            "action": "Ship it.",
            "resolved": False,
        }
        for n in range(60)
    ]
    message.context["findings"] = findings  # type: ignore[index]
    server.answer(*[Answer(200, b'{"ok":true}')] * 5)
    report = poster(settings, ledger, sleeps).deliver([message], job="monitor", now=NOW)
    texts = [p.json["text"] for p in server.posts]
    assert len(texts) >= 3 and report.ok
    assert all(utf16_len(t) <= LIMIT for t in texts)
    # each part is whole lines: no line cut, no entity cut, all 60 findings in order
    joined = "\n".join(texts)
    assert [line for line in joined.split("\n") if line.startswith("[HIGH]")] == [
        f"[HIGH] Order {n} is late &amp; &lt;stuck&gt;" for n in range(60)
    ]
    keys = report.keys("sent")
    base = post_key("alert:20261123-0900", "ops-telegram")
    assert keys == [base] + [f"{base}#{i}" for i in range(2, len(texts) + 1)]


def test_secrets_never_appear_in_logs_reports_or_the_ledger(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = channel_settings(
        tmp_path, server, ca_pem[1], monkeypatch, max_retries=1, timeout_seconds=0.5
    )
    server.answer(
        *[Answer(500, b"down")] * 2,  # slack: fails after a retry
        Answer(200, b"1", delay=1.5),  # teams: unknown
    )
    reports = [poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)]
    monkeypatch.setenv("OPS_TEST_HOOK_URL", "http://127.0.0.1/hook/webhook-s3cr3t-path")
    reports.append(poster(settings, ledger, sleeps).deliver([alert("a2")], job="monitor", now=NOW))
    secrets = ("s3cr3t", TOKEN, "sig=")
    texts = [caplog.text]
    for report in reports:
        texts += [f"{o.detail} {o.key}" for o in report.outcomes]
        texts += [f"{a.result} {a.to} {a.subject}" for a in report.activity]
        texts += [f"{p.problem} {p.fix} {p.value}" for p in report.problems]
    for row in ledger.recent(50):
        texts.append(f"{row.last_error} {row.message!r} {row.to}")
        texts += [detail for _, _, detail in ledger.events(row.key)]
    joined = "\n".join(texts)
    assert "127.0.0.1" in caplog.text  # the host is named...
    for secret in secrets:
        assert secret not in joined  # ...never the path, query or token
    assert "not a usable https URL" in joined


def test_a_failing_channel_never_stops_the_others(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(
        tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack", "ops-hook"], max_retries=0
    )
    server.answer(Answer(500, b"down"), Answer(200, b"ok"))
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    statuses = {o.channel: o.status for o in report.outcomes}
    assert statuses == {"ops-slack": "failed", "ops-hook": "sent"}


def test_weekly_headline_and_job_failure_line(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    from ops_sheets.mail.channels.poster import post_job_failure

    settings = channel_settings(tmp_path, server, ca_pem[1], monkeypatch, only=["ops-hook"])
    weekly = ChannelMessage("weekly_summary", "weekly:2026-W47", sample_context("weekly_summary"))
    poster(settings, ledger, sleeps).deliver([weekly], job="weekly", now=NOW)
    assert server.posts[0].json["title"].endswith("week 2026-W47 (16 Nov – 22 Nov)")
    assert "Revenue: £12,480.00" in server.posts[0].json["text"]
    post_job_failure(settings, "orders", NOW, "the Orders tab\ncannot be read")
    post_job_failure(settings, "orders", NOW, "the Orders tab\ncannot be read")  # same run
    assert len(server.posts) == 2
    line = server.posts[1].json
    assert line["paragraphs"] == []
    assert line["title"] == (
        "Harbour & Pine: the orders job failed at Mon 23 Nov 09:00: the Orders tab cannot be read"
    )


def test_a_ca_file_that_cannot_be_loaded_is_a_config_problem_and_nothing_is_claimed(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(
        tmp_path, server, ca_pem[1], monkeypatch, only=["ops-slack"], ca_file="missing.pem"
    )
    report = poster(settings, ledger, sleeps).deliver([alert()], job="monitor", now=NOW)
    key = post_key("alert:20261123-0900", "ops-slack")
    assert "ca_file: cannot load" in report.problems[0].problem
    assert ledger.get(key).state == "planned"  # type: ignore[union-attr]
    assert server.posts == []


def test_a_split_message_is_never_posted_out_of_order(
    tmp_path: Path,
    server: ChannelServer,
    ca_pem: Any,
    monkeypatch: Any,
    ledger: Ledger,
    sleeps: Sleeps,
) -> None:
    settings = channel_settings(
        tmp_path, server, ca_pem[1], monkeypatch, only=["ops-telegram"], max_retries=0
    )
    message = alert()
    message.context["findings"] = [  # type: ignore[index]
        {
            "severity": "high",
            "title": f"Late {n}",
            "detail": "y" * 400,
            "action": "",
            "resolved": False,
        }
        for n in range(20)
    ]
    server.answer(Answer(502, b"bad gateway"))  # part 1 fails; parts 2.. must wait
    first = poster(settings, ledger, sleeps).deliver([message], job="monitor", now=NOW)
    base = post_key("alert:20261123-0900", "ops-telegram")
    assert first.outcome(base).status == "failed"  # type: ignore[union-attr]
    assert len(server.posts) == 1
    # before part 1's retry time: part 2 is due (planned) but waits for part 1
    poster(settings, ledger, sleeps).deliver([], job="stock", now=NOW + timedelta(minutes=1))
    assert len(server.posts) == 1
    later = poster(settings, ledger, sleeps).deliver([], job="stock", now=NOW + timedelta(hours=1))
    parts = len(server.posts) - 1
    assert parts >= 2
    assert later.keys("sent") == [base] + [f"{base}#{i}" for i in range(2, parts + 1)]
    assert server.posts[1].body == server.posts[0].body
    assert "Late 0" in server.posts[1].json["text"] and "Late 19" in server.posts[-1].json["text"]
