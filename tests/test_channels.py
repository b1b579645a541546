"""Channel config, formats, preview, check, and the runner: a channel that fails
never stops the email, and an email that fails never stops the channel."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from backends import base_config
from channelserver import Answer, ChannelServer, make_ca

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.errors import ConfigError
from ops_sheets.mail.channels.base import ChannelText, utf16_len
from ops_sheets.mail.channels.preview import channel_problems
from ops_sheets.mail.channels.slack import SlackChannel, escape_mrkdwn
from ops_sheets.mail.channels.telegram import LIMIT, TelegramChannel, split_html
from ops_sheets.service.cli import main
from ops_sheets.service.demo import DEMO_NOW
from ops_sheets.service.demo_data import build_demo_workbook
from ops_sheets.service.runner import run_job

SLACK = {"kind": "slack", "url_env": "OPS_SLACK_URL"}


def load(channels: dict[str, Any], tmp_path: Path = Path(".")) -> Any:
    return settings_from_dict({"channels": channels}, base_dir=tmp_path, source="config.toml")


# ---------------------------------------------------------------- config


@pytest.mark.parametrize("key", ["url", "webhook_url", "token", "bot_token"])
def test_a_secret_typed_into_the_config_is_refused_without_repeating_it(key: str) -> None:
    secret = "https://hooks.slack.com/services/T1/B2/very-secret"
    with pytest.raises(ConfigError) as err:
        load({"ops": {"kind": "slack", key: secret}})
    message = str(err.value)
    assert "[channels.ops]" in message and "secret" in message
    assert "_env" in message and "_file" in message
    assert "very-secret" not in message


def test_a_url_given_as_the_variable_name_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"url_env: looks like a URL") as err:
        load({"ops": {"kind": "slack", "url_env": "https://hooks.slack.com/services/x/y/z"}})
    assert "services/x" not in str(err.value)


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ({"kind": "discord", "url_env": "X"}, r'kind: "discord" is not a known kind; valid: slack'),
        ({"url_env": "X"}, r"kind: required"),
        ({"kind": "slack"}, r"exactly one of url_env or url_file"),
        ({"kind": "slack", "url_env": "X", "url_file": "f"}, r"exactly one of url_env"),
        ({"kind": "telegram", "token_env": "T"}, r"chat_id: required for telegram"),
        ({"kind": "teams", "url_env": "X", "chat_id": "1"}, r"are for telegram channels"),
        ({**SLACK, "send": ["purchase_order"]}, r'send\[0\]: "purchase_order" is not a message'),
        ({**SLACK, "min_severity": "URGENT"}, r'min_severity: "URGENT" is not a severity'),
        ({**SLACK, "colour": "red"}, r"colour: unknown key"),
    ],
)
def test_channel_config_mistakes_say_where_and_how_to_fix(
    section: dict[str, Any], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected):
        load({"ops": section})


def test_a_valid_channel_config_loads_with_defaults() -> None:
    settings = load({"ops": SLACK, "tg": {"kind": "telegram", "token_file": "t", "chat_id": "-5"}})
    assert settings.channels["ops"].send == ["manager_alert", "weekly_summary", "heartbeat_failure"]
    assert settings.channels["ops"].min_severity == "HIGH"
    assert settings.channels["tg"].api_url == "https://api.telegram.org"


def test_check_reports_an_unset_variable_and_a_plain_http_url(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPS_SLACK_URL", raising=False)
    monkeypatch.setenv("OPS_HOOK_URL", "http://example.com/hook/secret-part")
    (tmp_path / "tg-token").write_text("", encoding="utf-8")
    settings = load(
        {
            "ops": SLACK,
            "hook": {"kind": "webhook", "url_env": "OPS_HOOK_URL"},
            "tg": {"kind": "telegram", "token_file": "tg-token", "chat_id": "-5"},
        },
        tmp_path,
    )
    problems = {p.key: p for p in channel_problems(settings)}
    assert "OPS_SLACK_URL is not set" in problems["ops"].problem
    assert "export OPS_SLACK_URL" in problems["ops"].fix
    assert "not a usable https URL (scheme 'http')" in problems["hook"].problem
    assert "secret-part" not in problems["hook"].problem + problems["hook"].value
    assert "is empty" in problems["tg"].problem
    assert all(
        p.column.startswith("channels.") and p.tab == "config.toml" for p in problems.values()
    )
    monkeypatch.setenv("OPS_SLACK_URL", "https://hooks.slack.com/services/a/b/c")
    assert "ops" not in {p.key for p in channel_problems(settings)}


# ---------------------------------------------------------------- formats


def test_slack_escapes_only_its_three_control_characters() -> None:
    assert escape_mrkdwn("a & b < c > d *e*") == "a &amp; b &lt; c &gt; d *e*"


def test_slack_blocks_have_a_header_and_sections_within_limits() -> None:
    settings = load({"ops": SLACK})
    channel = SlackChannel("ops", settings.channels["ops"], settings)
    text = ChannelText("manager_alert", "T" * 200, ("line\n" * 1000,))
    (payload,) = channel.payloads(text)
    header, *sections = payload["blocks"]
    assert header["type"] == "header" and len(header["text"]["text"]) == 150
    assert sections[0]["text"]["text"] == "T" * 200  # the cut header, whole below it
    assert all(len(s["text"]["text"]) <= 3000 for s in sections) and len(sections) >= 2


def test_telegram_split_keeps_lines_whole_and_entities_uncut() -> None:
    settings = load({"tg": {"kind": "telegram", "token_env": "T", "chat_id": "-5"}})
    channel = TelegramChannel("tg", settings.channels["tg"], settings)
    long_line = "&<>" * 3000  # 9,000 characters, 36,000 once escaped
    text = ChannelText("manager_alert", "Title", (long_line, "short line"))
    payloads = channel.payloads(text)
    texts = [p["text"] for p in payloads]
    assert all(utf16_len(t) <= LIMIT for t in texts)
    assert texts[0].startswith("<b>Title</b>")
    body = "".join(texts).replace("<b>Title</b>", "").replace("short line", "").replace("\n", "")
    assert body == "&amp;&lt;&gt;" * 3000  # nothing lost, no entity cut in two
    assert texts[-1].endswith("short line")


def test_split_html_counts_utf16_units() -> None:
    lines = ["😀" * 1500] * 3  # 3,000 UTF-16 units each
    chunks = split_html(lines)
    assert len(chunks) == 3 and all(utf16_len(c) <= LIMIT for c in chunks)


def test_channel_text_takes_the_first_line_as_title_and_blank_lines_as_breaks() -> None:
    text = ChannelText.parse("k", "\n\nTitle\n\nOne\ntwo\n\n\nThree\n")
    assert text.title == "Title" and text.paragraphs == ("One\ntwo", "Three")


# ---------------------------------------------------------------- preview


def write_config(tmp_path: Path, channels: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        'timezone = "Europe/London"\n[mail]\ntransport = "outbox"\n' + channels, encoding="utf-8"
    )
    return path


def test_preview_prints_the_payload_a_channel_would_post(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_SLACK_URL", "https://hooks.slack.com/services/T1/B2/secret")
    config = write_config(
        tmp_path, '[channels.ops-slack]\nkind = "slack"\nurl_env = "OPS_SLACK_URL"\n'
    )
    assert (
        main(["preview", "manager_alert", "--channel", "ops-slack", "--config", str(config)]) == 0
    )
    out, err = capsys.readouterr()
    payload = json.loads(out)
    assert payload["blocks"][0]["type"] == "header"
    assert "PO-20261120-ACME" in json.dumps(payload)
    assert "7 order lines are late" not in json.dumps(payload)  # MEDIUM: below HIGH
    assert "POST to hooks.slack.com (slack)" in err and "secret" not in err + out
    assert "templates/manager_alert/channel.txt" in err.replace("\\", "/")


def test_preview_of_an_unknown_channel_names_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, '[channels.ops]\nkind = "slack"\nurl_env = "X"\n')
    assert main(["preview", "manager_alert", "--channel", "nope", "--config", str(config)]) == 2
    assert "no [channels.nope] section; channels in the config: ops" in capsys.readouterr().err


def test_a_user_template_overrides_the_bundled_one_for_one_channel_kind(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    custom = tmp_path / "templates" / "weekly_summary" / "channel.telegram.txt"
    custom.parent.mkdir(parents=True)
    custom.write_text("Week {{ week }} <done>\n", encoding="utf-8")
    config = write_config(
        tmp_path,
        '[channels.tg]\nkind = "telegram"\ntoken_env = "T"\nchat_id = "-5"\n'
        '[channels.hook]\nkind = "webhook"\nurl_env = "H"\n',
    )
    main(["preview", "weekly_summary", "--channel", "tg", "--config", str(config)])
    assert json.loads(capsys.readouterr().out)["text"] == "<b>Week 2026-W47 &lt;done&gt;</b>"
    main(["preview", "weekly_summary", "--channel", "hook", "--config", str(config)])
    assert json.loads(capsys.readouterr().out)["title"].endswith("(16 Nov – 22 Nov)")


# ---------------------------------------------------------------- runner


@pytest.fixture(scope="module")
def ca_pem(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    return make_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def server(ca_pem: tuple[Any, Path]) -> Iterator[ChannelServer]:
    srv = ChannelServer(ca_pem[0]).start()
    yield srv
    srv.stop()


def demo_shop(tmp_path: Path, ca: Path, mail: dict[str, Any] | None = None) -> Any:
    build_demo_workbook(tmp_path / "workbook.xlsx", DEMO_NOW)
    config = base_config("xlsx", path="workbook.xlsx")
    if mail:
        config["mail"] = mail
    config["channels"] = {
        "ops": {
            "kind": "webhook",
            "url_env": "OPS_TEST_HOOK",
            "ca_file": str(ca),
            "max_retries": 0,
            "min_severity": "LOW",
        }
    }
    return settings_from_dict(config, base_dir=tmp_path)


def test_a_failing_channel_never_stops_the_manager_email(
    tmp_path: Path, server: ChannelServer, ca_pem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TEST_HOOK", server.url("/hook/x"))
    settings = demo_shop(tmp_path, ca_pem[1])
    server.answer(Answer(500, b"down"))
    result = run_job("monitor", settings, DEMO_NOW)
    assert result.delivery is not None and result.delivery.ok
    assert any("alert" in k for k in result.delivery.sent)
    assert len(server.posts) == 1 and not result.channels.ok
    assert result.exit_code == 1
    assert any("channels: 1 failed" in n for n in result.notes)


def test_a_failing_email_never_stops_the_channel_post(
    tmp_path: Path, server: ChannelServer, ca_pem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TEST_HOOK", server.url("/hook/x"))
    mail = {
        "transport": "smtp",
        "smtp": {"host": "127.0.0.1", "port": 9, "security": "none", "timeout_seconds": 1},
    }
    settings = demo_shop(tmp_path, ca_pem[1], mail)
    result = run_job("monitor", settings, DEMO_NOW)
    assert result.delivery is not None and not result.delivery.ok  # nothing listens on port 9
    (post,) = server.posts
    assert post.json["message"] == "manager_alert" and result.channels.ok
    # a second run the same day posts nothing new
    run_job("monitor", settings, DEMO_NOW)
    assert len(server.posts) == 1


def hook_settings(tmp_path: Path, ca_file: Path, **more_channels: Any) -> Settings:
    """A state and one webhook channel (OPS_TEST_HOOK) that takes heartbeat failures."""
    ops = {"kind": "webhook", "url_env": "OPS_TEST_HOOK", "ca_file": str(ca_file)}
    return settings_from_dict(
        {"state": {"path": "state.db"}, "channels": {"ops": ops, **more_channels}},
        base_dir=tmp_path,
    )


def orders_service(settings: Settings, results: list[str], failing: Iterable[str] = ()) -> Any:
    """A serve loop whose orders runs end as ``results`` say, in turn."""
    from ops_sheets.service.scheduler import (
        RunOutcome,
        Service,
        _channel_failure_poster,
        parse_schedule,
    )

    outcomes = iter(results)
    service = Service(
        {"orders": parse_schedule("every 30 minutes", settings.tz)},
        lambda job, now: RunOutcome(job, next(outcomes), error="the Orders tab is missing"),
        lambda job: None,
        catch_up=timedelta(hours=1),
        clock=lambda: DEMO_NOW,
        wait=lambda seconds: None,
        on_failure=_channel_failure_poster(settings),
        failing=failing,
    )
    service.planner.start(DEMO_NOW, lambda job: None)
    return service


def test_serve_posts_one_line_when_a_job_starts_failing(
    tmp_path: Path, server: ChannelServer, ca_pem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TEST_HOOK", server.url("/hook/x"))
    quiet = {"kind": "slack", "url_env": "X", "send": ["weekly_summary"]}
    settings = hook_settings(tmp_path, ca_pem[1], quiet=quiet)
    service = orders_service(settings, ["failed", "failed", "ok", "interrupted"])
    for slot in range(4):  # failed, failed again (no repeat), ok, failed anew
        service.run_one("orders", DEMO_NOW + timedelta(minutes=30 * slot))
    post, again = server.posts
    assert post.json["message"] == "heartbeat_failure"
    assert "job failed at Mon 23 Nov 10:30" in again.json["title"]
    assert (
        "the orders job failed at Mon 23 Nov 09:00: the Orders tab is missing" in post.json["title"]
    )


def test_a_channel_without_heartbeat_failure_gets_no_failure_hook(tmp_path: Path) -> None:
    from ops_sheets.service.scheduler import _channel_failure_poster

    settings = load({"ops": {**SLACK, "send": ["manager_alert"]}}, tmp_path)
    assert _channel_failure_poster(settings) is None


def test_dry_run_says_what_each_channel_would_post(
    tmp_path: Path, server: ChannelServer, ca_pem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_TEST_HOOK", server.url("/hook/x"))
    settings = demo_shop(tmp_path, ca_pem[1])
    result = run_job("monitor", settings, DEMO_NOW, dry_run=True)
    assert any(
        n.startswith("--- would post manager_alert [") and "to [channels.ops] (webhook" in n
        for n in result.notes
    )
    assert server.posts == []


def test_check_lists_a_channel_whose_variable_is_unset(
    tmp_path: Path, ca_pem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPS_TEST_HOOK", raising=False)
    settings = demo_shop(tmp_path, ca_pem[1])
    result = run_job("check", settings, DEMO_NOW)
    (problem,) = [p for p in result.problems if p.column == "channels.ops"]
    assert "environment variable OPS_TEST_HOOK is not set" in problem.problem
    assert result.exit_code == 1


@pytest.mark.parametrize(
    "url", ["http://hooks.example.com/x", "https://hooks.example.com:port/x", "hooks.example.com/x"]
)
def test_an_unusable_webhook_url_is_refused_without_showing_it(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPS_SLACK_URL", url)
    (problem,) = channel_problems(load({"ops": SLACK}, tmp_path))
    assert "not a usable https URL" in problem.problem
    assert "hooks.example.com" not in problem.problem + problem.fix


def test_a_restarted_serve_does_not_post_again_for_a_job_still_failing(
    tmp_path: Path, server: ChannelServer, ca_pem: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ops_sheets.service.scheduler import _open_state, failing_from_state

    monkeypatch.setenv("OPS_TEST_HOOK", server.url("/hook/x"))
    settings = hook_settings(tmp_path, ca_pem[1])
    state = _open_state(settings)
    for job, results in {"orders": ["ok", "failed"], "stock": ["failed", "interrupted"]}.items():
        for result in results:  # what the previous serve process left
            run = state.start_run(job, DEMO_NOW, DEMO_NOW)
            state.finish_run(run, result, DEMO_NOW, error="the Orders tab is missing")
    state.close()
    failing = failing_from_state(settings, ["orders", "stock", "returns"])
    assert failing == {"orders"}  # an interrupted run told nobody: stock may alert
    service = orders_service(settings, ["failed", "ok", "failed"], failing)
    service.run_one("orders", DEMO_NOW)  # still failing: said before the restart
    assert server.posts == []
    for slot in (1, 2):  # recovers, then fails anew: that is news
        service.run_one("orders", DEMO_NOW + timedelta(minutes=30 * slot))
    (post,) = server.posts
    assert "job failed at Mon 23 Nov 10:00" in post.json["title"]
