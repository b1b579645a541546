"""``ops-sheets serve --shops DIR``: one process serving every shop whose config is
``DIR/*/config.toml`` (issue 21).

Each shop is what ``serve`` is for one config: the same schedules, the same
:class:`~ops_sheets.service.scheduler.Planner` (catch-up included), and every run
in its own spawned child with its own timeout
(:class:`~ops_sheets.service.scheduler.ChildExecutor`). On top of that:

**Isolation.** A shop's work (reading its config, opening its store, running what
is due) happens on a pool thread of its own; the loop never waits for a shop. A
broken config is logged once (again when the file changes) and retried when it
changes; a hanging sheet holds only its shop's thread until that run's timeout.
``parallel`` shops are worked on at once.

**Rescan.** Every tick looks at DIR again: a new folder is served from the next
tick, a removed one is dropped once its current run ends. No restart.

**Several processes, one store.** Before a run, the slot (job, scheduled instant)
is claimed in the shop's store with a lease (:mod:`ops_sheets.store.leases`) that
lasts the job's timeout plus ``[serve] lease_margin_seconds`` (the child is killed at
its timeout; the margin covers recording the outcome). Another process finding the slot finished
skips it; finding it held, it waits; finding the lease expired without a finish
(the holder was killed), it takes the slot over and runs it — mail still goes out
at most once, because the ledger's claims hold whatever the dead run had planned.
A shop on SQLite lives on one machine: the first ``serve`` process to reach it
takes its serve lock and serves it alone.

**Channel alert.** As plain ``serve`` does, a shop whose job *starts* failing gets
one line in its channels that carry ``heartbeat_failure`` (issue 23), through the
same :class:`~ops_sheets.service.scheduler.FailureAlerts`, one per shop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time as time_module
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, closing
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ops_sheets.config import JobSettings, Settings, load_settings
from ops_sheets.errors import OpsSheetsError
from ops_sheets.service.scheduler import (
    ChildExecutor,
    FailureAlerts,
    JobLocked,
    Planner,
    RunFunction,
    RunOutcome,
    StopRequest,
    _channel_failure_poster,
    _install_signal_handlers,
    _open_state,
    _show_service_lines,
    failing_from_state,
    job_settings,
    last_success_from_state,
    one_line,
    scheduled_jobs,
    serve_lock,
    settle_abandoned_runs,
)

log = logging.getLogger("ops_sheets.serve")


def shop_configs(root: Path) -> dict[str, Path]:
    """Every shop under ``root``: folder name → its config.toml (sorted by name)."""
    if not root.is_dir():
        return {}
    found = {}
    for config in sorted(root.glob("*/config.toml")):
        if config.is_file() and not config.parent.name.startswith("."):
            found[config.parent.name] = config
    return found


@dataclass
class Shop:
    name: str
    config: Path
    loaded_mtime: float | None = None
    settings: Settings | None = None
    planner: Planner | None = None
    executor: ChildExecutor | None = None
    error: str = ""
    resources: ExitStack = field(default_factory=ExitStack)
    future: Future[None] | None = None
    removed: bool = False
    #: the channels' one-line "job failing" alert, as plain ``serve`` posts it; kept
    #: across config reloads so that an edit does not repeat it
    failures: FailureAlerts = field(default_factory=FailureAlerts)

    @property
    def busy(self) -> bool:
        return self.future is not None and not self.future.done()


class Fleet:
    """The loop of ``serve --shops``: rescan, hand due shops to the pool, sleep a tick.

    ``clock`` (aware now) and ``wait`` (sleep) are parameters, as in
    :class:`~ops_sheets.service.scheduler.Service`.
    """

    def __init__(
        self,
        root: Path,
        run: RunFunction,
        *,
        clock: Callable[[], datetime] | None = None,
        wait: Callable[[float], object] | None = None,
        stop: StopRequest | None = None,
        parallel: int = 8,
        tick_seconds: float = 5.0,
        owner: str | None = None,
        executor_factory: Callable[[Settings], ChildExecutor] | None = None,
    ) -> None:
        from ops_sheets.store.leases import owner_name

        self.root = root
        self.run_function = run
        self.stop = stop or StopRequest()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.wait = wait or self.stop.wait
        self.tick_seconds = tick_seconds
        self.owner = owner or owner_name()
        self.pool = ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="shop")
        self.shops: dict[str, Shop] = {}
        self.executor_factory = executor_factory or (
            lambda settings: ChildExecutor(settings, self.run_function, self.stop)
        )
        #: (shop, job, slot ISO, result) of every run this process made, in order
        self.runs: list[tuple[str, str, str, str]] = []

    # ------------------------------------------------------------ the loop

    def run(self) -> int:
        log.info(
            "serve --shops: started (pid %s, %s, owner %s)", os.getpid(), self.root, self.owner
        )
        try:
            while not self.stop.requested:
                self.tick()
                self.wait(self.tick_seconds)
        finally:
            self.shutdown()
        log.info("serve --shops: stopped (%s)", self.stop.signal_name or "asked to stop")
        return 0

    def tick(self) -> None:
        """Rescan DIR; give every idle shop a turn on the pool."""
        self.rescan()
        for shop in list(self.shops.values()):
            if shop.busy or self.stop.requested:
                continue
            shop.future = self.pool.submit(self._turn, shop)

    def rescan(self) -> None:
        found = shop_configs(self.root)
        for name, config in found.items():
            if name not in self.shops:
                log.info("%s: new shop (%s)", name, config)
                self.shops[name] = Shop(name, config)
        for name in [n for n in self.shops if n not in found]:
            shop = self.shops.pop(name)
            shop.removed = True
            log.info("%s: folder removed; no longer served", name)
            if shop.future is not None:
                shop.future.add_done_callback(lambda _f, s=shop: s.resources.close())
            else:
                shop.resources.close()

    def wait_idle(self, timeout: float = 600.0) -> None:
        """Until no shop is being worked on (tests and benchmarks)."""
        deadline = time_module.monotonic() + timeout
        for shop in list(self.shops.values()):
            if shop.future is not None:
                shop.future.result(timeout=max(deadline - time_module.monotonic(), 0.1))

    def shutdown(self) -> None:
        self.pool.shutdown(wait=True)
        for shop in self.shops.values():
            shop.resources.close()

    # ------------------------------------------------------------ one shop's turn

    def _turn(self, shop: Shop) -> None:
        try:
            if not self._load(shop) or shop.planner is None or shop.settings is None:
                return
            self._run_due(shop)
        except Exception as exc:  # one shop's trouble never reaches the loop or another shop
            log.error("%s: %s", shop.name, one_line(exc))
            log.debug("%s", shop.name, exc_info=exc)

    def _load(self, shop: Shop) -> bool:
        """(Re)read the shop's config when it changed; False while it cannot be served."""
        try:
            mtime = shop.config.stat().st_mtime
        except OSError:
            return False  # removed under us; the next rescan drops it
        if shop.loaded_mtime == mtime:
            return shop.planner is not None
        shop.loaded_mtime = mtime
        shop.resources.close()
        shop.resources = ExitStack()
        shop.planner = shop.settings = shop.executor = None
        try:
            settings = load_settings(shop.config)
            schedules = scheduled_jobs(settings)
            from ops_sheets.store.location import PostgresLocation, state_location

            if not isinstance(state_location(settings), PostgresLocation):
                # a SQLite shop is one machine's: one serve process serves it
                shop.resources.enter_context(serve_lock(settings))
                settle_abandoned_runs(settings, list(schedules))
            planner = Planner(schedules, timedelta(hours=settings.serve.catch_up_hours))
            planner.start(self.clock(), last_success_from_state(settings))
            # what the state says is failing was posted by whoever ran it (this
            # process before a restart, or another machine of a shared shop)
            failing = failing_from_state(settings, list(schedules))
        except JobLocked as exc:
            shop.error = f"served by another process: {exc}"
            log.info("%s: %s", shop.name, shop.error)
            shop.loaded_mtime = None  # ask again next tick: that process may stop
            return False
        except (OpsSheetsError, OSError) as exc:
            shop.error = one_line(exc)
            log.error("%s: not served until its config changes: %s", shop.name, shop.error)
            shop.resources.close()
            return False
        shop.settings, shop.planner, shop.error = settings, planner, ""
        shop.failures.on_failure = _channel_failure_poster(settings)
        shop.failures.failing = failing
        shop.executor = self.executor_factory(settings)
        log.info("%s: serving %s", shop.name, ", ".join(schedules))
        return True

    def _run_due(self, shop: Shop) -> None:
        from ops_sheets.store.leases import SlotLeases
        from ops_sheets.store.location import state_location

        assert shop.planner is not None and shop.settings is not None
        planner, settings = shop.planner, shop.settings
        due = planner.due(self.clock())
        if not due:
            return
        with SlotLeases(state_location(settings)) as leases:
            for job in due:
                if self.stop.requested or shop.removed:
                    return
                now = self.clock()
                slot = planner.schedules[job].latest_at_or_before(planner.due_at[job])
                js = job_settings(settings, job) or JobSettings()
                margin = timedelta(seconds=settings.serve.lease_margin_seconds)
                lease = timedelta(minutes=js.timeout_minutes) + margin
                verdict = leases.claim(job, slot, self.owner, now, lease)
                if verdict == "held":
                    continue  # another process runs it; due again next tick, in case it dies
                if verdict == "finished":
                    planner.done(job, now)
                    continue
                if verdict == "taken_over":
                    log.warning(
                        "%s: %s: the process that had slot %s stopped; running it here",
                        shop.name, job, f"{slot:%Y-%m-%d %H:%M} UTC",
                    )  # fmt: skip
                    _interrupt_dead_runs(settings, job)
                outcome = self._execute(shop, job, now)
                ended = self.clock()
                leases.finish(job, slot, self.owner, ended, outcome.result)
                planner.done(job, ended)
                self.runs.append((shop.name, job, slot.isoformat(), outcome.result))
                level = logging.INFO if outcome.succeeded else logging.ERROR
                detail = f": {outcome.error}" if outcome.error else ""
                log.log(level, "%s: %s: %s%s", shop.name, job, outcome.result, detail)
                shop.failures.record(job, now, outcome)

    def _execute(self, shop: Shop, job: str, now: datetime) -> RunOutcome:
        assert shop.executor is not None
        try:
            return shop.executor(job, now)
        except Exception as exc:
            return RunOutcome(job, "failed", error=one_line(exc))


def _interrupt_dead_runs(settings: Settings, job: str) -> None:
    """Job runs left 'running' by the dead holder of a slot become 'interrupted'."""
    with closing(_open_state(settings)) as state:
        for run in state.runs(job, limit=20):
            if run.result == "running":
                state.finish_run(
                    run.id,
                    "interrupted",
                    datetime.now(UTC),
                    error="the serve process running it stopped (its slot lease ran out)",
                )


def serve_shops(
    root: Path,
    *,
    run: RunFunction | None = None,
    parallel: int = 8,
    tick_seconds: float = 5.0,
    quota: str = "",
) -> int:
    """``ops-sheets serve --shops DIR`` until SIGTERM/SIGINT; exit 0.

    ``quota``: where the Google quota's token buckets are shared (a SQLite file, by
    default DIR/.ops-sheets-quota.db, for one machine; ``postgresql://...`` for
    several): every run of every shop draws from them (:mod:`ops_sheets.store.quota`).
    """
    from ops_sheets.errors import UsageError
    from ops_sheets.service.runner import run_job
    from ops_sheets.store.quota import QuotaRun

    if not root.is_dir():
        raise UsageError(f"{root}: no such folder; --shops needs a folder of shop folders")
    run = QuotaRun(run or run_job, quota or str(root / ".ops-sheets-quota.db"))
    _show_service_lines()
    stop = StopRequest()
    previous = _install_signal_handlers(stop)
    try:
        fleet = Fleet(root, run, stop=stop, parallel=parallel, tick_seconds=tick_seconds)
        return fleet.run()
    finally:
        import signal

        for signum, handler in previous.items():
            signal.signal(signum, handler)
        with contextlib.suppress(Exception):
            stop.close()
