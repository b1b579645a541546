"""`serve --shops` posts issue 23's one-line "job failing" alert per shop, as plain
`serve` does: once when a shop's job starts failing, again only after it has
succeeded in between. Real children, a real local HTTPS channel server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from channelserver import ChannelServer, make_ca
from test_serve import BOOM, QUICK, helper, make_config  # noqa: F401  (helper: a fixture)

from ops_sheets.service.fleet import Fleet
from ops_sheets.service.scheduler import StopRequest

T0 = datetime(2026, 11, 23, 9, 0, 30, tzinfo=UTC)


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ChannelServer, Path]]:
    ca, pem = make_ca(tmp_path_factory.mktemp("ca"))
    srv = ChannelServer(ca).start()
    yield srv, pem
    srv.stop()


def failing_shop(root: Path, name: str, ca_pem: Path) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    config = make_config(folder, {"check": {"schedule": "every minute"}}, {"check": BOOM})
    text = config.read_text(encoding="utf-8").replace(
        "timezone =", f'shop_name = "{name.title()} Homeware"\ntimezone =', 1
    )
    text += (
        "[channels.ops]\n"
        'kind = "webhook"\n'
        'url_env = "OPS_TEST_HOOK"\n'
        f'ca_file = "{ca_pem.as_posix()}"\n'
        "max_retries = 0\n"
    )
    config.write_text(text, encoding="utf-8")
    return folder


def titles(server: ChannelServer) -> list[str]:
    return sorted(post.json["title"] for post in server.posts)


def test_serve_shops_posts_one_line_per_shop_when_a_job_starts_failing(
    tmp_path: Path,
    helper: Any,  # noqa: F811
    server: tuple[ChannelServer, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    channel, pem = server
    monkeypatch.setenv("OPS_TEST_HOOK", channel.url("/hook/fleet"))
    north = failing_shop(tmp_path, "north", pem)
    failing_shop(tmp_path, "south", pem)
    clock = [T0]
    fleet = Fleet(
        tmp_path, helper.run_on_memory, clock=lambda: clock[0], wait=lambda _s: None,
        stop=StopRequest(),
    )  # fmt: skip

    def minute(n: int) -> None:
        clock[0] = T0 + timedelta(minutes=n)
        fleet.tick()
        fleet.wait_idle()

    try:
        minute(0)  # both shops' check fails: one line each, naming the shop
        first = titles(channel)
        minute(1)  # still failing: nothing more
        after_repeat = len(channel.posts)
        (north / "jobs" / "check.py").write_text(QUICK, encoding="utf-8")
        minute(2)  # north recovers, south still fails: nothing
        after_recovery = len(channel.posts)
        (north / "jobs" / "check.py").write_text(BOOM, encoding="utf-8")
        minute(3)  # north fails anew: one line for north only
    finally:
        fleet.shutdown()

    assert [r for s, _j, _slot, r in fleet.runs if s == "north"] == [
        "failed",
        "failed",
        "ok",
        "failed",
    ]
    assert len(first) == 2
    assert first[0].startswith("North Homeware: the check job failed at Mon 23 Nov 09:00")
    assert first[1].startswith("South Homeware: the check job failed at Mon 23 Nov 09:00")
    assert all("the supplier API said no" in t for t in first)
    assert after_repeat == 2 and after_recovery == 2
    assert len(channel.posts) == 3
    assert (
        channel.posts[2]
        .json["title"]
        .startswith("North Homeware: the check job failed at Mon 23 Nov 09:03")
    )
    assert all(p.json["message"] == "heartbeat_failure" for p in channel.posts)
