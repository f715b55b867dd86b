"""Publishing processing tasks off the request path, several events per task.

The receive view's job ends when the event row is committed (the inbox is
the outbox). Publishing a task per event on the request thread cost about a
third of the view's time (docs/benchmarks.md); instead, each web process
hands event ids to this relay, whose one background thread sends them in
batches of up to ``EVENT_BATCH_SIZE`` ids per task. If the broker refuses a
batch, or the process dies with ids still queued here, those events stay
``received`` and the sweep sends them: the relay can lose a message, never
an event.
"""

import logging
import os
import queue
import threading
import time
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
        self._queue: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._pid: int | None = None

    def submit(self, event_id: int) -> None:
        if self._pid != os.getpid():
            self._start()  # first use in this process, or after a fork
        self._queue.put(event_id)

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            self._queue = queue.SimpleQueue()
            self._pid = os.getpid()
            threading.Thread(
                target=self._run, args=(self._queue,), name="webhook-task-relay", daemon=True
            ).start()

    def _run(self, pending: "queue.SimpleQueue[int]") -> None:
        while True:
            batch = [pending.get()]
            deadline = time.monotonic() + self._linger_seconds
            while len(batch) < self._batch_size:
                try:
                    batch.append(pending.get(timeout=max(deadline - time.monotonic(), 0)))
                except queue.Empty:
                    break
            try:
                self._send(batch)
            except Exception:
                logger.warning(
                    "broker unreachable; events %s left for the sweep", batch, exc_info=True
                )
