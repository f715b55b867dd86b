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
from collections.abc import Callable

logger = logging.getLogger(__name__)


class TaskRelay:
    def __init__(self, send: Callable[[list[int]], None], *, batch_size: int) -> None:
        self._send = send
        self._batch_size = batch_size
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
            while len(batch) < self._batch_size:
                try:
                    batch.append(pending.get_nowait())
                except queue.Empty:
                    break
            try:
                self._send(batch)
            except Exception:
                logger.warning(
                    "broker unreachable; events %s left for the sweep", batch, exc_info=True
                )
