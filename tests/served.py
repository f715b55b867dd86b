"""The project served as in production: `collectstatic`, then gunicorn on a
free loopback port with DEBUG off, and plain HTTP requests to it."""

import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

from tests.faults import free_port
from tests.processes import PROJECT_ROOT, stop_process_group, wait_until


@dataclass(frozen=True)
class Response:
    status: int
    headers: Message
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def http_get(url: str, headers: dict[str, str] | None = None) -> Response:
    """GET ``url``; an HTTP error status is an answer too, not an exception."""
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return Response(answer.status, answer.headers, answer.read())
    except urllib.error.HTTPError as error:
        return Response(error.code, error.headers, error.read())


def production_env(**overrides: str) -> dict[str, str]:
    """This process's environment with DEBUG off and the given settings."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "closerarchive.settings",
        "DEBUG": "0",
        **overrides,
    }


def collectstatic(env: dict[str, str]) -> None:
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--no-input", "-v", "0"],
        cwd=PROJECT_ROOT,
        env=env,
        check=True,
        capture_output=True,
    )


@contextmanager
def gunicorn(env: dict[str, str], *args: str, log_path: Path | None = None) -> Iterator[str]:
    """gunicorn with ``args`` on a free loopback port; yields its base URL."""
    port = free_port()
    log = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    server = subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", "closerarchive.wsgi",
            "--bind", f"127.0.0.1:{port}", *args,
        ],
        cwd=PROJECT_ROOT,  # gunicorn reads ./gunicorn.conf.py from here
        env=env,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if server.poll() is not None:
            raise AssertionError(f"gunicorn exited with {server.returncode}")
        try:
            http_get(base_url + "/admin/login/")
        except OSError:
            return False
        return True

    try:
        wait_until(answers, timeout=60, what="gunicorn to answer")
        yield base_url
    finally:
        stop_process_group(server, timeout=30)
        if log_path:
            log.close()  # type: ignore[union-attr]
