"""`make up` for tests: the whole Procfile stack under honcho, on free
ports, against the test database and the test Redis db, and the process
tree it started (to prove that Ctrl-C leaves nothing behind)."""

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.faults import free_port
from tests.processes import PROJECT_ROOT, database_url_for_tests, redis_url_for_tests, wait_until
from tests.served import http_get

WORKER_READY = re.compile(r"celery@\S+ ready\.")


@dataclass
class Stack:
    make: subprocess.Popen[bytes]
    log_path: Path
    web_url: str
    webhooks_url: str

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def processes(self) -> set[int]:
        """Every live process under `make up` (make, honcho, the Procfile's)."""
        return descendants(self.make.pid) | {self.make.pid}


def _parents() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue  # it ended while we looked
            # "pid (comm) state ppid ...": comm may hold spaces and parentheses.
            state, ppid = stat.rsplit(")", 1)[1].split()[:2]
            if state != "Z":
                parents[int(entry.name)] = int(ppid)
    return parents


def descendants(pid: int) -> set[int]:
    parents = _parents()
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pids: set[int]) -> set[int]:
    return pids & set(_parents())


def stack_settings(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """An env file's settings: the test database and Redis db, small pools, free ports."""
    redis_url = redis_url_for_tests()
    return {
        "DATABASE_URL": database_url_for_tests(),
        "CELERY_BROKER_URL": redis_url,
        "CACHE_URL": redis_url,
        "STATIC_ROOT": str(tmp_path / "static"),
        "BEAT_SCHEDULE_FILE": str(tmp_path / "celerybeat-schedule"),
        "WEB_PORT": str(free_port()),
        "WEBHOOKS_PORT": str(free_port()),
        "WEB_WORKERS": "1",
        "WEB_THREADS": "4",
        "WEBHOOKS_WORKERS": "1",
        **overrides,
    }


def start_make_up(tmp_path: Path, settings: dict[str, str]) -> Stack:
    """`make up` in its own session (as a terminal would run it), reading its
    settings from an env file in ``tmp_path``, as it reads .env."""
    env_file = tmp_path / "stack.env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings.items()))
    log_path = tmp_path / "make-up.log"
    with open(log_path, "wb") as log:
        make = subprocess.Popen(
            # This interpreter's virtualenv: make finds it installed already.
            ["make", "--no-print-directory", "up", f"ENV_FILE={env_file}", f"VENV={sys.prefix}"],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Stack(
        make=make,
        log_path=log_path,
        web_url=f"http://127.0.0.1:{settings['WEB_PORT']}",
        webhooks_url=f"http://127.0.0.1:{settings['WEBHOOKS_PORT']}",
    )


def wait_for_stack(stack: Stack) -> None:
    """Until both pools answer and the worker and beat have started."""

    def up() -> bool:
        if stack.make.poll() is not None:
            raise AssertionError(f"make up exited with {stack.make.returncode}:\n{stack.output()}")
        output = stack.output()
        if not WORKER_READY.search(output) or "beat: Starting..." not in output:
            return False
        try:
            http_get(stack.web_url + "/admin/login/")
            http_get(stack.webhooks_url + "/webhooks/closer/probe/")
        except OSError:
            return False
        return True

    wait_until(up, timeout=120, what="make up's processes to start")


def interrupt(stack: Stack, *, timeout: float = 60) -> None:
    """Ctrl-C: SIGINT to make's process group, then wait for make to exit."""
    if stack.make.poll() is None:
        os.killpg(stack.make.pid, signal.SIGINT)
    try:
        stack.make.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in stack.processes():
            os.kill(pid, signal.SIGKILL)
        stack.make.wait()
        raise AssertionError(f"make up did not stop within {timeout}s") from None


@contextmanager
def make_up(tmp_path: Path, **overrides: str) -> Iterator[Stack]:
    """The running stack; stopped with Ctrl-C afterwards if it still runs."""
    stack = start_make_up(tmp_path, stack_settings(tmp_path, **overrides))
    try:
        wait_for_stack(stack)
        yield stack
    finally:
        interrupt(stack)
