"""The SMTP transport against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import base64
import logging
from pathlib import Path

import pytest
from mailfixtures import (
    NOW,
    PASSWORD,
    PASSWORD_ENV,
    Behaviour,
    make_ca,
    make_settings,
    po_emails,
    smtp_server,
)

from ops_sheets.mail.message import MessageParts, build_message, parse_address
from ops_sheets.mail.postman import Postman
from ops_sheets.mail.transports import (
    ConnectError,
    PermanentDeliveryError,
    SmtpTransport,
    TemporaryDeliveryError,
    UnknownOutcomeError,
    make_transport,
)
from ops_sheets.mail.transports.smtp import read_password
from ops_sheets.store.ledger import Ledger

SENDER = parse_address("Ops <ops@shop.example.com>")


def message(i: int = 0, *, body: str = "Hello\n"):
    return build_message(
        sender=SENDER,
        to=parse_address(f"orders{i}@acme.example.com"),
        parts=MessageParts(subject=f"PO {i}", text=body, html=f"<p>{body}</p>"),
        key=f"po:PO-{i}",
        date=NOW,
    )


def transport_for(port: int, **kwargs) -> SmtpTransport:
    return SmtpTransport("127.0.0.1", port, security=kwargs.pop("security", "none"), **kwargs)


def test_a_batch_reuses_one_connection() -> None:
    with smtp_server() as server, transport_for(server.port, timeout=5) as transport:
        for i in range(5):
            transport.send(message(i))
    assert len(server.messages) == 5
    assert len(server.handler.sessions) == 1


def test_a_dot_at_line_start_survives_transparency() -> None:
    with smtp_server() as server, transport_for(server.port) as transport:
        transport.send(message(body="line one\n.\n.leading dot\n"))
    [received] = server.handler.parsed()
    assert received.get_payload()[0].get_payload() == "line one\r\n.\r\n.leading dot\r\n"


def test_handover_callback_runs_after_rcpt_and_before_the_data() -> None:
    seen: list[int] = []
    with smtp_server() as server, transport_for(server.port) as transport:
        transport.send(message(), on_handover=lambda: seen.append(len(server.messages)))
    assert seen == [0] and len(server.messages) == 1


def test_a_failing_handover_callback_sends_nothing() -> None:
    def refuse() -> None:
        raise RuntimeError("ledger unavailable")

    with smtp_server() as server, transport_for(server.port) as transport:
        with pytest.raises(RuntimeError):
            transport.send(message(), on_handover=refuse)
        transport.send(message(1))  # reconnects for the next message
    assert server.keys() == ["po:PO-1"]


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_4xx_is_temporary_and_the_connection_stays_usable(stage: str) -> None:
    reply = "451 4.3.0 Try again later"
    behaviour = Behaviour(**{f"{stage}_reply": reply, f"{stage}_times": 1})
    with smtp_server(behaviour) as server, transport_for(server.port) as transport:
        with pytest.raises(TemporaryDeliveryError) as info:
            transport.send(message(0))
        transport.send(message(1))
    assert info.value.code == 451 and "451 4.3.0 Try again later" in str(info.value)
    assert server.keys() == ["po:PO-1"] and len(server.handler.sessions) == 1


@pytest.mark.parametrize("stage", ["rcpt", "data"])
def test_5xx_is_permanent(stage: str) -> None:
    behaviour = Behaviour(**{f"{stage}_reply": "550 5.1.1 No such user"})
    with (
        smtp_server(behaviour) as server,
        transport_for(server.port) as transport,
        pytest.raises(PermanentDeliveryError) as info,
    ):
        transport.send(message())
    assert info.value.code == 550
    assert server.messages == []


def test_an_answer_after_the_timeout_is_an_unknown_outcome() -> None:
    with (
        smtp_server(Behaviour(data_delay=1.5)) as server,
        transport_for(server.port, timeout=0.4) as transport,
        pytest.raises(UnknownOutcomeError, match="may or may not have been delivered"),
    ):
        transport.send(message())
    assert len(server.messages) == 1  # the server did accept it


def test_connection_refused_is_a_connect_error() -> None:
    with smtp_server() as server:
        port = server.port
    transport = transport_for(port, timeout=2)
    with pytest.raises(ConnectError, match="cannot connect"):
        transport.send(message())


def test_the_password_is_not_sent_unencrypted_to_a_remote_host() -> None:
    transport = SmtpTransport(
        "smtp.example.com",
        25,
        security="none",
        username="ops",
        password=lambda: None,  # type: ignore[arg-type, return-value]
    )
    with pytest.raises(ConnectError, match="unencrypted") as info:
        transport.open()
    assert info.value.config and info.value.exit_code == 2


@pytest.fixture
def password_env(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return PASSWORD_ENV


def _secrets() -> list[str]:
    """The password in every form a careless log line might contain."""
    plain = base64.b64encode(f"\0ops\0{PASSWORD}".encode()).decode()
    return [PASSWORD, plain, base64.b64encode(PASSWORD.encode()).decode()]


def _assert_no_secret(text: str) -> None:
    for secret in _secrets():
        assert secret not in text


def test_starttls_with_an_untrusted_certificate_fails_before_auth_and_never_leaks_the_password(
    tmp_path: Path,
    password_env: str,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    ca, ca_file = make_ca(tmp_path)
    with smtp_server(ca=ca, tls="starttls", auth=("ops", PASSWORD)) as server:
        common = dict(
            port=server.port, security="starttls", username="ops", password_env=password_env
        )
        untrusted = make_settings(tmp_path, **common)
        with Ledger.from_settings(untrusted) as ledger:
            report = Postman(untrusted, ledger).deliver(po_emails(1), job="stock", now=NOW)
        assert report.counts["failed"] == 1
        assert "certificate" in report.outcomes[0].detail and "ca_file" in report.outcomes[0].detail
        assert server.auth_attempts == [] and server.messages == []

        trusted = make_settings(tmp_path, ca_file=str(ca_file), **common)
        with Ledger.from_settings(trusted) as ledger:
            report = Postman(trusted, ledger).deliver(po_emails(1), job="stock", now=NOW)
        assert report.sent == ["po:PO-20261123-S000"]
        assert server.auth_attempts == [("ops", PASSWORD)]

    client_records = [r for r in caplog.records if not r.name.startswith("mail.log")]
    assert any(r.levelno == logging.DEBUG for r in client_records)  # DEBUG really captured
    _assert_no_secret("\n".join(f"{r.name} {r.getMessage()}" for r in client_records))
    assert PASSWORD not in caplog.text  # not even the server's own log
    out, err = capfd.readouterr()
    _assert_no_secret(out + err)
    _assert_no_secret(repr(report) + repr(untrusted.mail.smtp))


def test_implicit_tls_verifies_against_the_configured_ca(tmp_path: Path) -> None:
    ca, ca_file = make_ca(tmp_path)
    with smtp_server(ca=ca, tls="ssl") as server:
        ok = make_settings(tmp_path, port=server.port, security="ssl", ca_file=str(ca_file))
        with make_transport(ok) as transport:
            transport.send(message())
        bad = make_settings(tmp_path, port=server.port, security="ssl")
        with pytest.raises(ConnectError, match="certificate"), make_transport(bad) as transport:
            transport.send(message(1))
    assert server.keys() == ["po:PO-0"]


def test_a_refused_login_is_a_config_error_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = "wrong-" + PASSWORD
    monkeypatch.setenv(PASSWORD_ENV, wrong)
    ca, ca_file = make_ca(tmp_path)
    with smtp_server(ca=ca, tls="starttls", auth=("ops", PASSWORD)) as server:
        settings = make_settings(
            tmp_path,
            port=server.port,
            security="starttls",
            username="ops",
            password_env=PASSWORD_ENV,
            ca_file=str(ca_file),
        )
        with pytest.raises(ConnectError, match="refused the login") as info:
            make_transport(settings).open()
    assert info.value.exit_code == 2
    assert wrong not in str(info.value) and wrong not in repr(info.value.__context__)


def test_password_comes_from_the_first_line_of_a_file(tmp_path: Path) -> None:
    (tmp_path / "smtp-password").write_text(f"{PASSWORD}\nignored\n", encoding="utf-8")
    settings = make_settings(tmp_path, username="ops", password_file="smtp-password")
    secret = read_password(settings)
    assert secret.reveal() == PASSWORD
    assert PASSWORD not in repr(secret) and PASSWORD not in str(secret)


def test_a_missing_password_variable_is_named_not_guessed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    settings = make_settings(tmp_path, username="ops", password_env=PASSWORD_ENV)
    with pytest.raises(ConnectError, match=PASSWORD_ENV):
        read_password(settings)
