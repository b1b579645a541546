"""The command line: exit codes, one-line errors, dry runs that change nothing."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ops_sheets.service.cli import main

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ops_sheets.service.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cli") / "demo"
    result = run_cli("demo", "--dir", str(directory))
    assert result.returncode == 0, result.stderr
    assert "Monday 2026-11-23 09:00" in result.stdout
    return directory


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_demo_leaves_a_workbook_with_each_deliberate_mistake_on_the_problems_tab(
    demo_dir: Path,
) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(demo_dir / "workbook.xlsx")
    problems = [r for r in wb["Problems"].iter_rows(values_only=True)][1:]
    cells = {(r[0], r[1], r[2]) for r in problems}
    assert ("Stock", 58, "On hand") in cells
    assert ("Orders", 3078, "SKU") in cells
    assert ("Orders", 3011, "Order date") in cells
    assert ("Stock", 63, "SKU") in cells and ("Stock", 39, "SKU") in cells  # after the kit
    assert ("Orders", 3047, "Email") in cells
    outbox = demo_dir / "outbox"
    kinds = {p.name.split("_")[0] for p in outbox.glob("*.eml")}
    assert {"po", "pickup", "rma", "alert", "weekly"} <= kinds, kinds
    assert (outbox / "index.html").is_file()


def test_dry_run_changes_no_byte_and_prints_what_it_would_write(demo_dir: Path) -> None:
    config = demo_dir / "config.toml"
    files = [demo_dir / "workbook.xlsx", demo_dir / "state.db"]
    before = {f: digest(f) for f in files}
    emails = sorted(p.name for p in (demo_dir / "outbox").iterdir())
    result = run_cli(
        "run", "check", "--config", str(config), "--dry-run", "--now", "2026-11-24T09:00"
    )
    assert {f: digest(f) for f in files} == before
    assert sorted(p.name for p in (demo_dir / "outbox").iterdir()) == emails
    assert "dry run:" in result.stdout
    assert "'Problems'!H2: " in result.stdout  # Found at would change to the new now
    assert result.returncode == 1  # the demo has problems


def test_status_lists_every_job(demo_dir: Path) -> None:
    result = run_cli("status", "--config", str(demo_dir / "config.toml"))
    assert result.returncode == 0, result.stderr
    for job in ("stock", "orders", "returns", "monitor", "weekly"):
        assert job in result.stdout


def test_a_config_mistake_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[jobs.stock]\nlookback_days = "eight weeks"\n', encoding="utf-8")
    assert main(["run", "stock", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert 'lookback_days: expected a whole number, got "eight weeks"' in err


# Values of the right type that passed `check` and then failed the job on every slot.
UNUSABLE_VALUES = [
    ("[jobs.stock]\nservice_level_a = nan", "[jobs.stock] service_level_a: nan is not a usable"),
    ("[jobs.stock]\nreview_days = inf", "[jobs.stock] review_days: inf is not a usable number"),
    ("[jobs.stock]\nservice_level_a = 1.0", "[jobs.stock] service_level_a: 1.0 is out of range"),
    ("[mail]\nmax_attempts = -3", "[mail] max_attempts: -3 is out of range"),
    ('[jobs.orders]\norder_cutoff = "2pm"', '[jobs.orders] order_cutoff: "2pm" is not a time'),
]


def config_with(folder: Path, workbook: Path, text: str) -> Path:
    """A config for a copy of ``workbook``, plus ``text``."""
    folder.mkdir(exist_ok=True)
    shutil.copy(workbook, folder / "workbook.xlsx")
    config = folder / "config.toml"
    config.write_text(text + "\n", encoding="utf-8")
    return config


@pytest.mark.parametrize(("text", "expected"), UNUSABLE_VALUES)
def test_check_refuses_a_value_no_job_can_use_in_one_line_with_the_valid_range(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, expected: str
) -> None:
    config = config_with(tmp_path, demo_dir / "workbook.xlsx", text)
    for command in (["check"], ["run", "stock"], ["run", "orders"]):
        assert main([*command, "--config", str(config)]) == 2
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0, err
        assert str(config) in err and expected in err and "; valid: " in err


@pytest.mark.parametrize(("text", "expected"), UNUSABLE_VALUES)
def test_serve_refuses_to_start_with_a_value_no_job_can_use(
    demo_dir: Path, tmp_path: Path, text: str, expected: str
) -> None:
    config = config_with(tmp_path, demo_dir / "workbook.xlsx", text)
    result = subprocess.run(
        [sys.executable, "-m", "ops_sheets.service.cli", "serve", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,  # a serve that started would run until killed: the test fails
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert expected in result.stderr and "; valid: " in result.stderr
    assert not (tmp_path / "state.db").exists()  # refused before touching anything


def test_check_warns_that_gb_holidays_without_a_region_miss_englands_bank_holidays(
    demo_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_with(
        tmp_path, demo_dir / "workbook.xlsx", '[jobs.orders]\nholidays_country = "GB"'
    )
    main(["check", "--config", str(config), "--now", "2026-11-23T09:00"])
    out = capsys.readouterr().out
    assert "warning: " in out and "Easter Monday" in out
    assert "set holidays_subdivision to the warehouse's region: ENG" in out
    config.write_text(
        '[jobs.orders]\nholidays_country = "GB"\nholidays_subdivision = "ENG"\n', encoding="utf-8"
    )
    main(["check", "--config", str(config), "--now", "2026-11-23T09:00"])
    assert "warning: " not in capsys.readouterr().out


def test_unknown_job_and_bad_now_are_usage_errors(
    demo_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(demo_dir / "config.toml")
    assert main(["run", "stok", "--config", config]) == 2
    assert "no job named 'stok'; valid: " in capsys.readouterr().err
    assert main(["run", "check", "--config", config, "--now", "tomorrow"]) == 2
    assert "not an ISO 8601 date-time" in capsys.readouterr().err


def test_check_exits_2_when_the_workbook_is_missing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[workbook]\npath = "nope.xlsx"\n', encoding="utf-8")
    code = main(["check", "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2 and "nope.xlsx" in err and "\n" not in err.strip()


def test_preview_renders_every_kind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for kind in (
        "purchase_order",
        "po_reminder",
        "pickup_request",
        "return_acknowledgement",
        "manager_alert",
        "weekly_summary",
    ):
        assert main(["preview", kind, "--config", str(tmp_path / "none.toml")]) == 0
        path = Path(capsys.readouterr().out.strip())
        assert path.is_file()


def test_a_new_state_next_to_a_processed_sheet_holds_mail_until_accepted(
    demo_dir: Path, tmp_path: Path
) -> None:
    import shutil

    moved = tmp_path / "server"
    moved.mkdir()
    shutil.copy(demo_dir / "config.toml", moved / "config.toml")
    shutil.copy(demo_dir / "workbook.xlsx", moved / "workbook.xlsx")  # but not state.db
    config = str(moved / "config.toml")
    held = run_cli("run", "returns", "--config", config, "--now", "2026-11-23T10:00")
    assert "held: the state database is new" in held.stdout
    assert not list((moved / "outbox").glob("*.eml"))
    accepted = run_cli(
        "run", "returns", "--config", config, "--now", "2026-11-23T10:00", "--accept-new-state"
    )
    assert accepted.returncode in (0, 1), accepted.stderr
    assert "new state accepted" in accepted.stdout
    # the Activity log shows every acknowledgement as sent: none goes out again
    assert "6 already sent" in accepted.stdout
    assert not list((moved / "outbox").glob("rma_*.eml"))


def test_review_of_a_sent_message_is_harmless_and_outbox_names_get_a_hint(demo_dir: Path) -> None:
    config = str(demo_dir / "config.toml")
    sent = next(p.stem for p in (demo_dir / "outbox").glob("po_*.eml"))  # po_PO-...
    key = sent.replace("_", ":", 1)
    ok = run_cli("review", key, "--sent", "--config", config)
    assert ok.returncode == 0 and "already recorded as sent" in ok.stdout
    hint = run_cli("review", sent, "--sent", "--config", config)
    assert hint.returncode == 2 and f"did you mean {key!r}" in hint.stderr
