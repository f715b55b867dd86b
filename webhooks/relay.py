"""Replaces a task publish per webhook on the request thread; tests/webhooks/test_relay.py.

The receive view's job ends when the event row is committed (the inbox is
the outbox). Publishing a task per event on the request thread cost about a
third of the view's time (docs/benchmarks.md, Ingest); instead, each web process
hands event ids to this relay, whose one background thread sends them in
batches of up to ``EVENT_BATCH_SIZE`` ids per task. If the broker refuses a
batch, or the process dies with ids still queued here, those events stay
``received`` and the sweep sends them: the relay can lose a message, never
an event. A process that exits gracefully sends what it holds first.
"""

import atexit
import logging
import os
import queue
import threading
from collections.abc import Callable

logger = logging.getLogger(__name__)


class TaskRelay:
    def __init__(
        self, send: Callable[[list[int]], None], *, batch_size: int, linger_seconds: float = 0.0
    ) -> None:
        self._send = send
        self._batch_size = batch_size
        # How long a batch waits for more ids before it is sent. Under load a
        # worker applies up to batch_size waiting events per task anyway, and
        # every task beyond that is one it receives, acknowledges and finds
        # done: fuller tasks mean fewer of those (docs/benchmarks.md).
        self._linger_seconds = linger_seconds
        self._lock = threading.Lock()
        self._queue: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self._full = threading.Event()  # a batch's worth of ids is waiting
        self._thread: threading.Thread | None = None
        self._pid: int | None = None

    def submit(self, event_id: int) -> None:
        if self._pid != os.getpid():
            self._start()  # first use in this process, or after a fork
        self._queue.put(event_id)
        # The thread is not woken per id (under load that was a GIL hand-off
        # per webhook): only once a batch is full, or when the linger ends.
        if self._queue.qsize() >= self._batch_size - 1:
            self._full.set()

    def close(self, timeout_seconds: float = 5.0) -> None:
        """Send what is waiting now instead of lingering, then stop.

        Registered with atexit when the thread starts: a web process that
        exits gracefully (a gunicorn restart, a deploy) publishes the ids it
        still holds rather than leaving their events to the sweep.
        """
        if self._thread is None or self._pid != os.getpid():
            return
        self._queue.put(None)
        self._full.set()
        self._thread.join(timeout_seconds)
        self._pid = None  # a later submit starts a new thread

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            self._full = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, args=(self._queue,), name="webhook-task-relay", daemon=True
            )
            self._thread.start()
            atexit.register(self.close)

    def _run(self, pending: "queue.SimpleQueue[int | None]") -> None:
        closing = False
        while not closing:
            first = pending.get()
            if first is None:
                return
            batch = [first]
            if pending.qsize() < self._batch_size - 1:
                self._full.wait(self._linger_seconds)
            self._full.clear()  # a missed set is harmless: qsize is read again
            while len(batch) < self._batch_size:
                try:
                    event_id = pending.get_nowait()
                except queue.Empty:
                    break
                if event_id is None:
                    closing = True
                    break
                batch.append(event_id)
            try:
                self._send(batch)
            except Exception:
                logger.warning(
                    "broker unreachable; events %s left for the sweep", batch, exc_info=True
                )
