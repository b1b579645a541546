"""The ``ops-sheets`` command: a thin layer over the library.

Every error the service raises on purpose (:class:`OpsSheetsError`) becomes one
line on stderr and its exit code: 2 = fix the config or the command line,
1 = the job ran and found problems or could not finish.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

from ops_sheets.config import DEFAULT_CONFIG, Settings, load_settings
from ops_sheets.errors import (
    OpsSheetsError,
    SheetAccessError,
    UnsupportedContentError,
    UsageError,
    WorkbookError,
    WorkbookLockedError,
)
from ops_sheets.service.gc_policy import fewer_collections
from ops_sheets.service.runner import (
    JOB_NAMES,
    JobResult,
    jobs_for,
    load_job,
    parse_now,
    print_result,
    run_job,
    titles_to_read,
)
from ops_sheets.service.shared_read import SharedRead
from ops_sheets.sheet.workbook import open_workbook

log = logging.getLogger("ops_sheets")

RUNNABLE = (*JOB_NAMES, "all")


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(args.config)


def cmd_demo(args: argparse.Namespace) -> int:
    from ops_sheets.service.demo import run_demo

    return run_demo(Path(args.dir), now_text=args.now)


def cmd_init(args: argparse.Namespace) -> int:
    from ops_sheets.service.init_sheet import init_workbook

    settings = _settings(args)
    report = init_workbook(settings, create_similar=args.yes)
    for line in report:
        print(line)
    return 1 if report.held else 0  # a tab left out: the workbook is not ready yet


def run_locked(
    name: str,
    settings: Settings,
    now: datetime,
    dry_run: bool,
    accept_new_state: bool = False,
    shared: SharedRead | None = None,
) -> JobResult:
    """One run of a job at a time, `serve` included: wait for a run in progress."""
    if dry_run:  # reads only
        return run_job(name, settings, now, dry_run=True, shared=shared)
    from ops_sheets.service.scheduler import job_lock

    wait = (settings.job(name).timeout_minutes + 1) * 60
    on_wait = lambda m: print(f"ops-sheets: {m}", file=sys.stderr)  # noqa: E731
    with job_lock(settings, name, wait_seconds=wait, on_wait=on_wait):
        return run_job(name, settings, now, accept_new_state=accept_new_state, shared=shared)


def cmd_check(args: argparse.Namespace) -> int:
    from ops_sheets.service.scheduler import validate_schedules

    settings = _settings(args)
    validate_schedules(settings)
    try:
        result = run_locked("check", settings, parse_now(args.now, settings.tz), args.dry_run)
    except WorkbookLockedError:
        raise  # busy, not broken: exit 1, try again later
    except WorkbookError as exc:
        # `check` promises 2 for "unusable": a sheet it cannot open at all is that
        raise UsageError(str(exc)) from None
    print_result(result)
    return 1 if result.problems else 0


#: Failures that every job would meet the same way (the workbook cannot be opened
#: or is held by Excel): the first one stops ``run``, rather than repeating it per job.
SHARED_FAILURES: tuple[type[OpsSheetsError], ...] = (
    SheetAccessError,
    UnsupportedContentError,
    WorkbookLockedError,
)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the named jobs in turn; one job failing never stops the jobs after it.

    The monitor job, which tells the manager what went wrong, usually runs late
    in ``all``: a crash in ``orders`` must not silence it.
    """
    settings = _settings(args)
    now = parse_now(args.now, settings.tz)
    names = jobs_for(args.jobs, settings)
    outcomes: list[str] = []
    worst = 0
    with ExitStack() as resources:
        resources.enter_context(fewer_collections())  # CPU: see gc_policy
        shared = _shared_read(names, settings, args.dry_run, resources)
        for name in names:
            worst = _run_one(name, settings, now, args, shared, outcomes, worst)
        if shared is not None:
            try:
                shared.workbook.flush()  # what the jobs left held: one save for all
            except OpsSheetsError as exc:
                print(f"ops-sheets: {exc}", file=sys.stderr)
                worst = max(worst, exc.exit_code)
    if len(names) > 1:
        print("results: " + ", ".join(outcomes))
    return worst


def _shared_read(
    names: Sequence[str], settings: Settings, dry_run: bool, resources: ExitStack
) -> SharedRead | None:
    """Several jobs: one read of the sheet between them (issue 14)."""
    if len(names) < 2:
        return None
    titles: list[str] = []
    for name in names:
        try:
            titles += titles_to_read(load_job(name, settings), settings, dry_run=dry_run)
        except OpsSheetsError:
            continue  # that job's own run says what is wrong with it
    workbook = open_workbook(settings)
    resources.callback(workbook.close)
    # a file backend saves once for all the jobs, bar saves mail depends on (runner)
    workbook.hold_saves = True
    return SharedRead(workbook, titles)


def _run_one(
    name: str,
    settings: Settings,
    now: datetime,
    args: argparse.Namespace,
    shared: SharedRead | None,
    outcomes: list[str],
    worst: int,
) -> int:
    """One job of ``run``, its outcome added to ``outcomes``; the worst exit code so far."""
    try:
        result = run_locked(name, settings, now, args.dry_run, args.accept_new_state, shared)
    except SHARED_FAILURES:
        raise
    except Exception as exc:  # reported in one line; the next job still runs
        print(f"ops-sheets: {job_failure_line(name, exc)}", file=sys.stderr)
        log.debug("job %s failed", name, exc_info=exc)
        outcomes.append(f"{name} FAILED")
        return max(worst, exc.exit_code if isinstance(exc, OpsSheetsError) else 1)
    print_result(result)
    outcomes.append(f"{name} {'ok' if result.exit_code == 0 else 'problems'}")
    return max(worst, result.exit_code)


def job_failure_line(name: str, exc: Exception) -> str:
    """One line for a job that stopped: the service's own message, or the bug's."""
    if isinstance(exc, OpsSheetsError):
        return f"job {name} failed: {exc}"
    detail = str(exc).splitlines()[0] if str(exc) else ""
    what = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return (
        f"job {name} failed: {what} (a bug in ops-sheets: run it again with -v for the "
        "traceback and report it)"
    )


def cmd_import(args: argparse.Namespace) -> int:
    """Exit 0 imported, 1 imported with problems, 2 a file or the format unusable."""
    from ops_sheets.service.importer import import_files
    from ops_sheets.service.scheduler import job_lock

    settings = _settings(args)
    now = parse_now(args.now, settings.tz)
    if args.dry_run:
        report = import_files(settings, args.files, format=args.format, dry_run=True, now=now)
    else:  # two imports at once would both append the same new lines
        with job_lock(settings, "import", wait_seconds=60):
            report = import_files(settings, args.files, format=args.format, now=now)
    for line in report.lines():
        print(line)
    return report.exit_code


def cmd_status(args: argparse.Namespace) -> int:
    from ops_sheets.service.status import print_status

    if getattr(args, "shops", None):  # issue 21: one line per shop
        from ops_sheets.service.fleet_status import print_fleet_status

        return print_fleet_status(Path(args.shops), as_json=args.json)
    settings = _settings(args)
    return print_status(settings, as_json=args.json)


def cmd_preview(args: argparse.Namespace) -> int:
    from ops_sheets.mail.review import preview

    if Path(args.config).is_file():
        settings = _settings(args)
    else:  # no config: the bundled templates, rendered into a temporary folder
        import dataclasses
        import tempfile

        settings = dataclasses.replace(Settings(), base_dir=Path(tempfile.mkdtemp(prefix="ops-")))
    if args.channel:  # the body a Slack/Teams/Telegram/webhook channel would post
        from ops_sheets.mail.channels.preview import preview_channel

        payload, notes = preview_channel(settings, args.kind, args.channel)
        for note in notes:
            print(note, file=sys.stderr)
        print(payload)
        return 0
    print(preview(args.kind, settings))
    return 0


def cmd_review(args: argparse.Namespace) -> int:
    from ops_sheets.mail.review import review
    from ops_sheets.service.runner import log_activity

    settings = _settings(args)
    decision = "sent" if args.sent else "resend"
    result = review(settings, args.key, decision)
    print(result)
    try:
        log_activity(settings, result.activity)
    except OpsSheetsError as exc:  # the review itself is settled in the ledger
        print(f"ops-sheets: review recorded, but not in the Activity log: {exc}", file=sys.stderr)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from ops_sheets.service.scheduler import serve

    if getattr(args, "shops", None):  # issue 21: every shop under DIR
        from ops_sheets.service.fleet import serve_shops

        return serve_shops(
            Path(args.shops), parallel=args.parallel, quota=args.quota, tick_seconds=args.tick
        )
    return serve(_settings(args))


def cmd_state_migrate(args: argparse.Namespace) -> int:
    """Copy the shop's SQLite state into PostgreSQL (issue 21); the file stays as it is."""
    from ops_sheets.service.scheduler import lock_holder_pid, serve_lock_path
    from ops_sheets.store.location import PostgresLocation, schema_name
    from ops_sheets.store.transfer import copy_sqlite_to_postgres

    settings = _settings(args)
    pid = lock_holder_pid(serve_lock_path(settings))
    if pid is not None:
        raise UsageError(
            f"`ops-sheets serve` (pid {pid}) is using {settings.resolve(settings.state.path)}; "
            "stop it first, so that nothing changes the state while it is copied"
        )
    schema = args.schema or settings.state.schema or schema_name(settings.base_dir.resolve().name)
    target = PostgresLocation(args.to, schema)
    report = copy_sqlite_to_postgres(settings.resolve(settings.state.path), target)
    for line in report.lines():
        print(line)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ops-sheets",
        description="Does the routine work of an operations assistant on a shared spreadsheet.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log more detail")
    parser.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines for people or machines",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--config", default=DEFAULT_CONFIG, help="config file (default ./config.toml)"
        )

    p = sub.add_parser("demo", help="build a sample shop in DIR and run every job on it")
    p.add_argument("--dir", default="ops-demo", help="folder to create (default ./ops-demo)")
    p.add_argument("--now", help="ISO date-time to run at (default: the demo's fixed now)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("init", help="create missing tabs and service columns")
    with_config(p)
    p.add_argument(
        "--yes",
        action="store_true",
        help="create a missing tab even when a tab with a similar title exists",
    )
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("check", help="validate config and sheets; list problems")
    with_config(p)
    p.add_argument("--now", help="ISO date-time of the check (default: now)")
    p.add_argument("--dry-run", action="store_true", help="print changes instead of making them")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run the named jobs once")
    p.add_argument("jobs", nargs="+", metavar="JOB", help=f"one of: {', '.join(RUNNABLE)}")
    with_config(p)
    p.add_argument("--now", help="ISO 8601 date-time; without offset, in the configured zone")
    p.add_argument(
        "--dry-run", action="store_true", help="print every change and email; change nothing"
    )
    p.add_argument(
        "--accept-new-state",
        action="store_true",
        help="send mail although the state file is new and the sheet was processed before",
    )
    p.set_defaults(func=cmd_run)

    from ops_sheets.sheet.presets import format_choices

    p = sub.add_parser("import", help="add the order lines of store exports to the Orders tab")
    p.add_argument("files", nargs="+", metavar="FILE", help="CSV/TSV export(s), oldest first")
    p.add_argument(
        "--format",
        default="auto",
        metavar="FORMAT",
        help="one of: " + ", ".join(format_choices()) + " (default auto: by header)",
    )
    with_config(p)
    p.add_argument("--now", help="ISO date-time of the import (bounds the dates it accepts)")
    p.add_argument("--dry-run", action="store_true", help="print what would change; write nothing")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("serve", help="run jobs on their schedules until stopped")
    with_config(p)
    p.add_argument(
        "--shops", metavar="DIR", help="serve every shop whose config is DIR/*/config.toml"
    )
    p.add_argument(
        "--parallel", type=int, default=8, help="with --shops: shops worked on at once (default 8)"
    )
    p.add_argument(
        "--quota",
        default="",
        metavar="URL|FILE",
        help="with --shops: where all workers share Google's quota (default DIR/.ops-sheets-"
        "quota.db; postgresql://... when workers run on several machines)",
    )
    p.add_argument(
        "--tick", type=float, default=5.0, help="with --shops: seconds between rescans (default 5)"
    )
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("status", help="last runs, next runs, messages awaiting review")
    with_config(p)
    p.add_argument("--shops", metavar="DIR", help="one line per shop under DIR/*/config.toml")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("preview", help="render a template with sample data")
    p.add_argument("kind", metavar="KIND")
    with_config(p)
    p.add_argument(
        "--channel",
        metavar="NAME",
        help="print the JSON that [channels.NAME] would post (Slack, Teams, Telegram, webhook)",
    )
    p.set_defaults(func=cmd_preview)

    p = sub.add_parser("review", help="settle a message whose delivery is unknown")
    p.add_argument("key", metavar="KEY")
    group = p.add_mutually_exclusive_group(required=True)
    group.add_argument("--sent", action="store_true", help="it did arrive: never send it again")
    group.add_argument("--resend", action="store_true", help="it did not arrive: send it again")
    with_config(p)
    p.set_defaults(func=cmd_review)

    # issue 21: the state's own commands (moving it into PostgreSQL)
    p = sub.add_parser("state", help="the ledger and job history: move them to PostgreSQL")
    state_sub = p.add_subparsers(dest="state_command", required=True, metavar="ACTION")
    p = state_sub.add_parser(
        "migrate", help="copy the SQLite state (path) into PostgreSQL; the file is kept"
    )
    p.add_argument("--to", required=True, metavar="URL", help='"postgresql://user@host/db"')
    p.add_argument(
        "--schema", default="", help="schema for this shop (default: [state] schema or folder)"
    )
    with_config(p)
    p.set_defaults(func=cmd_state_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from ops_sheets.logs import setup_logging

    setup_logging(verbose=args.verbose, json_format=args.log_format == "json")
    try:
        return int(args.func(args))
    except OpsSheetsError as exc:
        print(f"ops-sheets: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("ops-sheets: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `ops-sheets run ... | head`: the reader has gone
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    sys.exit(main())
