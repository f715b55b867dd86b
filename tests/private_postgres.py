"""A PostgreSQL cluster of our own, for tests that restart the database.

The machine's shared PostgreSQL is never stopped: a test that needs
"PostgreSQL restarted" gets a throwaway cluster (``initdb`` into a temporary
directory, loopback only, a free port, trust authentication, no fsync),
restarts that one, and removes it afterwards. PostgreSQL refuses to run as
root, so as root its programs run as the ``postgres`` OS user.
"""

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NoReturn

import pytest

from tests.faults import free_port


def _bindir() -> Path:
    """Where initdb and pg_ctl are (``pg_config --bindir``); skip the test without them."""
    try:
        found = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, check=True, timeout=30
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        _unavailable("pg_config is not installed: no PostgreSQL server programs")
    bindir = Path(found)
    if not (bindir / "initdb").exists() or not (bindir / "pg_ctl").exists():
        _unavailable(f"initdb and pg_ctl are not in {bindir}")
    return bindir


def _unavailable(reason: str) -> NoReturn:
    """Skip on a laptop without the server programs; fail where they are
    required (CI sets REQUIRE_POSTGRES_SERVER=1: these tests must run there)."""
    if os.environ.get("REQUIRE_POSTGRES_SERVER") == "1":
        pytest.fail(f"{reason} (REQUIRE_POSTGRES_SERVER=1)")
    pytest.skip(reason)


class PrivatePostgres:
    """initdb'd into ``workdir``; ``start``, ``restart`` and ``stop`` through pg_ctl."""

    def __init__(self, workdir: Path) -> None:
        self.bindir = _bindir()
        self.workdir = workdir
        self.data = workdir / "data"
        self.port = free_port()
        # The server's output: never pg_ctl's, which we read to its end.
        self.log = str(workdir / "server.log")
        # PostgreSQL will not run as root.
        self._as_owner = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, program: str, *args: str) -> None:
        subprocess.run(
            [*self._as_owner, str(self.bindir / program), *args],
            check=True,
            capture_output=True,
            timeout=60,
        )

    def init(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust",
            "-E", "UTF8", "--locale=C", "--no-sync",
        )  # fmt: skip

    def init_replica_of(self, primary: "PrivatePostgres") -> None:
        """A streaming replica of ``primary`` instead of a new cluster: a base
        backup with the standby settings written (``-R``)."""
        self._run(
            "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
            "-D", str(self.data), "-R", "-X", "stream", "--no-sync", "--checkpoint=fast",
        )  # fmt: skip

    def start(self) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.workdir} "
            "-c fsync=off -c full_page_writes=off"
        )
        self._pg_ctl("start", "-o", options, "-l", self.log)

    def restart(self) -> None:
        """Fast shutdown (every session is ended, as in a real restart), then start."""
        self._pg_ctl("restart", "-m", "fast", "-l", self.log)

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg_ctl("stop", "-m", "immediate")

    def _pg_ctl(self, *args: str) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-w", "-t", "30", *args)


@contextmanager
def private_postgres(*, replica_of: PrivatePostgres | None = None) -> Iterator[PrivatePostgres]:
    """A started cluster in a new temporary directory (a streaming replica of
    ``replica_of`` if given); stopped and removed afterwards."""
    workdir = Path(tempfile.mkdtemp(prefix="closer-archive-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(workdir, user="postgres")
        server = PrivatePostgres(workdir)
        if replica_of is None:
            server.init()
        else:
            server.init_replica_of(replica_of)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
