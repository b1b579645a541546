"""Both stores for the tests: the SQLite file and a real PostgreSQL server.

``pg_url`` is a throwaway PostgreSQL cluster for the whole test session: initdb
and pg_ctl (PostgreSQL 15 from the Debian packages, which .ci/run installs) in a
temporary folder, listening only on a unix socket in that folder, on a free port.
PostgreSQL refuses to run as root, so under root the cluster runs as ``nobody``
(through ``runuser``). With ``$OPS_SHEETS_TEST_PG_URL`` set, that server is used
instead. Tests on PostgreSQL skip — saying why — only when no server can be had.

``store_location`` runs a test once per store; on PostgreSQL each test gets its
own schema, so tests never see each other's rows.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from ops_sheets.store.location import PostgresLocation, StoreLocation

_BIN_DIRS = (
    "/usr/local/bin",
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
    "/usr/lib/postgresql/14/bin",
    "/usr/lib/postgresql/13/bin",
)


def _find(tool: str) -> str | None:
    for folder in _BIN_DIRS:
        candidate = Path(folder) / tool
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return shutil.which(tool)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Cluster:
    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="ops-sheets-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.prefix: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root and no runuser to start PostgreSQL as nobody")
            self.prefix = [runuser, "-u", "nobody", "--"]
            shutil.chown(self.folder, user="nobody")
            self.folder.chmod(0o700)

    def _run(self, *args: str) -> None:
        done = subprocess.run(
            [*self.prefix, *args], capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {(done.stderr or done.stdout)[-800:]}")

    def start(self, initdb: str, pg_ctl: str) -> str:
        self._run(
            initdb,
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "ops",
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C",
        )
        options = (
            f"-p {self.port} -k {self.folder} -c listen_addresses='' -c fsync=off "
            "-c max_connections=200 -c full_page_writes=off"
        )
        self._run(
            pg_ctl,
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.folder / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )
        return f"postgresql://ops@/postgres?host={self.folder}&port={self.port}"

    def stop(self, pg_ctl: str) -> None:
        subprocess.run(
            [*self.prefix, pg_ctl, "-D", str(self.data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
            check=False,
        )
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_url() -> Iterator[str]:
    """The URL of a PostgreSQL server for this test session (see the module doc)."""
    given = os.environ.get("OPS_SHEETS_TEST_PG_URL", "").strip()
    if given:
        yield given
        return
    initdb, pg_ctl = _find("initdb"), _find("pg_ctl")
    if initdb is None or pg_ctl is None:
        pytest.skip(
            "no PostgreSQL server: initdb/pg_ctl not found (apt-get install "
            "postgresql, or set OPS_SHEETS_TEST_PG_URL)"
        )
    cluster = _Cluster()
    try:
        url = cluster.start(initdb, pg_ctl)
    except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
        cluster.stop(pg_ctl)
        pytest.skip(f"no PostgreSQL server: could not start a throwaway cluster ({exc})")
    try:
        yield url
    finally:
        cluster.stop(pg_ctl)


def fresh_schema(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    """Where a test's ledger and state live: once in a SQLite file, once in PostgreSQL."""
    if request.param == "sqlite":
        return tmp_path / "state.db"
    url = request.getfixturevalue("pg_url")
    return PostgresLocation(url, fresh_schema())
