"""A run that dies in the middle of a post: the next run, whether its postman or its
channel poster recovers the row, says in the Activity log what it was: a Slack
post, not an email. And an email the channel poster recovers is still logged.

Real child processes killed mid-request, a real local HTTPS server, real aiosmtpd,
a real SQLite ledger."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from channelserver import Answer, ChannelServer, make_ca
from conftest import NOW
from mailfixtures import HOOK_EXIT, make_settings, run_child, smtp_server

from ops_sheets.config import Settings, settings_from_dict
from ops_sheets.mail.channels.poster import ChannelPoster, post_key
from ops_sheets.mail.postman import Postman
from ops_sheets.store.ledger import UNKNOWN, Ledger

ALERT_KEY = "alert:20261123-0900"
POST_KEY = post_key(ALERT_KEY, "ops")

# posts one manager alert to [channels.ops]; the server holds the answer back, so
# the child is still waiting for it when the test kills it
CHILD = """
import json, sys
from ops_sheets.config import settings_from_dict
from ops_sheets.mail.channels.poster import ChannelMessage, ChannelPoster
from ops_sheets.mail.samples import sample_context
from ops_sheets.store.ledger import Ledger
from datetime import datetime

params = json.loads(sys.argv[1])
settings = settings_from_dict(params["config"], base_dir=params["base_dir"])
message = ChannelMessage("manager_alert", params["key"], sample_context("manager_alert"), "x")
with Ledger(settings.resolve(settings.state.path)) as ledger:
    ChannelPoster(settings, ledger).deliver(
        [message], job="monitor", now=datetime.fromisoformat(params["now"])
    )
"""


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChannelServer, Path]]:
    ca, pem = make_ca(tmp_path_factory.mktemp("ca"))
    srv = ChannelServer(ca).start()
    yield srv, pem
    srv.stop()


def channel_config(pem: Path) -> dict[str, Any]:
    return {
        "timezone": "Europe/London",
        "state": {"path": "state.db"},
        "channels": {
            "ops": {
                "kind": "slack",
                "url_env": "OPS_TEST_SLACK_URL",
                "ca_file": str(pem),
                "timeout_seconds": 60,
                "max_retries": 0,
            }
        },
    }


def kill_mid_post(tmp_path: Path, channel: ChannelServer, pem: Path) -> None:
    """A child posts, the server holds the answer, the child is killed meanwhile."""
    channel.answer(Answer(200, b"ok", delay=30))
    params = {
        "config": channel_config(pem),
        "base_dir": str(tmp_path),
        "key": ALERT_KEY,
        "now": NOW.isoformat(),
    }
    child = subprocess.Popen([sys.executable, "-c", CHILD, json.dumps(params)])
    try:
        deadline = time.monotonic() + 30
        while not channel.posts:
            assert child.poll() is None, "the child ended before it posted"
            assert time.monotonic() < deadline, "the child never posted"
            time.sleep(0.05)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)


@pytest.mark.parametrize("recoverer", ["postman", "channel poster"])
def test_a_post_cut_off_by_a_dead_run_is_logged_as_a_post_not_an_email(
    tmp_path: Path,
    server: tuple[ChannelServer, Path],
    monkeypatch: pytest.MonkeyPatch,
    recoverer: str,
) -> None:
    channel, pem = server
    monkeypatch.setenv("OPS_TEST_SLACK_URL", channel.url("/services/T0/B0/x"))
    kill_mid_post(tmp_path, channel, pem)

    settings = settings_from_dict(channel_config(pem), base_dir=tmp_path)
    later = NOW + timedelta(hours=1)
    with Ledger(tmp_path / "state.db") as ledger:
        if recoverer == "postman":
            activity = Postman(settings, ledger).deliver([], job="orders", now=later).activity
        else:
            activity = ChannelPoster(settings, ledger).deliver([], job="orders", now=later).activity
        row = ledger.get(POST_KEY)
    assert row is not None and row.state == UNKNOWN and row.job == "channel:ops"
    [entry] = activity
    assert entry.action == "Slack post outcome unknown"
    assert "Email" not in entry.action
    assert "look in the channel" in entry.result
    assert f"ops-sheets review {POST_KEY} --sent" in entry.result
    assert entry.to == "slack:ops" and entry.job == "channel:ops"
    assert len(channel.posts) == 1  # and not posted again


def test_an_email_cut_off_by_a_dead_run_is_still_logged_when_the_channel_poster_recovers_it(
    tmp_path: Path, server: tuple[ChannelServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    channel, pem = server
    monkeypatch.setenv("OPS_TEST_SLACK_URL", channel.url("/services/T0/B0/x"))
    with smtp_server() as smtp:
        child = run_child({"base_dir": str(tmp_path), "port": smtp.port, "hook": "after_data"})
        assert child.returncode == HOOK_EXIT, child.stderr
        mail_settings: Settings = make_settings(tmp_path, port=smtp.port)
    channels = settings_from_dict(channel_config(pem), base_dir=tmp_path)
    with Ledger.from_settings(mail_settings) as ledger:
        # the runner posts before it mails: the channel poster is first to recover
        report = ChannelPoster(channels, ledger).deliver(
            [], job="stock", now=NOW + timedelta(hours=1)
        )
    [entry] = report.activity
    assert entry.action == "Email outcome unknown"
    assert "check with the recipient" in entry.result
    assert channel.posts == []
