"""Things to break for real in fault tests: a private Redis server to stop
and restart, a TCP proxy in front of PostgreSQL to cut and restore, and an
HTTP sender. Everything listens on loopback only, on ports picked free.

The machine's shared Redis and PostgreSQL are never stopped: the Redis here
is our own process, and "PostgreSQL is down" means the proxy in front of it
refuses connections and breaks the open ones.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.processes import wait_until


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class PrivateRedis:
    """A redis-server of our own, without persistence, on a free port."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--bind", "127.0.0.1",
                "--port", str(self.port),
                "--save", "",
                "--appendonly", "no",
                "--daemonize", "no",
                "--dir", str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        wait_until(self._answers, timeout=20, what="the private redis-server to answer")

    def stop(self) -> None:
        """Kill it: queued messages are lost (no persistence), as in a crash."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=20)
        self.process = None

    def _answers(self) -> bool:
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=1).ping())
        except redis.ConnectionError:
            return False


@contextmanager
def private_redis(workdir: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()


class TcpProxy:
    """Forward a loopback port to ``target``; ``cut()`` refuses new connections
    and breaks the open ones, ``restore()`` listens again on the same port."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            doomed, self._sockets = self._sockets, set()
        if listener is not None:
            with suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in doomed:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # cut
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:
                    client.close()
                    upstream.close()
                    return
                self._sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(source, sink), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        for sock in (source, sink):
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


def http_post(url: str, payload: Any, *, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    """POST one JSON webhook; return (status, decoded JSON answer)."""
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def pool_children(worker_pid: int) -> list[int]:
    """The pool processes of a prefork Celery worker (Linux /proc)."""
    path = Path(f"/proc/{worker_pid}/task/{worker_pid}/children")
    return [int(pid) for pid in path.read_text().split()] if path.exists() else []


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL a worker and its pool children at once: no warm shutdown."""
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=20)


@contextmanager
def rabbitmq_vhost() -> Iterator[str]:
    """A private virtual host on the machine's RabbitMQ, deleted afterwards;
    yields its broker URL. Skips the test when RabbitMQ is not there."""
    if shutil.which("rabbitmqctl") is None:
        _skip_unless_required("rabbitmqctl is not installed")
    try:
        socket.create_connection(("127.0.0.1", 5672), timeout=2).close()
    except OSError:
        _skip_unless_required("RabbitMQ is not listening on 127.0.0.1:5672")
    name = f"closer-archive-test-{secrets.token_hex(4)}"
    ctl = ["rabbitmqctl", "--quiet"]
    subprocess.run([*ctl, "add_vhost", name], check=True, capture_output=True, timeout=60)
    try:
        subprocess.run(
            [*ctl, "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
            check=True,
            capture_output=True,
            timeout=60,
        )
        yield f"amqp://guest:guest@127.0.0.1:5672/{name}"
    finally:
        subprocess.run([*ctl, "delete_vhost", name], capture_output=True, timeout=60, check=False)


def _skip_unless_required(reason: str) -> None:
    """Skip on a laptop without RabbitMQ; fail in CI (REQUIRE_RABBITMQ=1)."""
    if os.environ.get("REQUIRE_RABBITMQ") == "1":
        pytest.fail(f"RabbitMQ is required here: {reason}")
    pytest.skip(reason)
