"""The backfill on several processes: records routed by customer to applier processes.

Replaces, for ``--workers`` above 1, the command's one applying thread. On
one process the applying thread's Python and PostgreSQL's work on a batch
run one after the other (the reading thread parses ahead, but the GIL keeps
the rest of Python on one core), so one core idles half the time.

The design, and why it is the simplest that uses both cores:

- This process reads the dumps and decodes each record once, only to route
  it: by its customer's Closer id (a CRC32 modulo the number of workers), so
  every event of one customer goes to the same applier, in dump order. The
  identity rules are per customer, so each customer's events are applied
  exactly as one process would apply them, and no two appliers ever wait on
  one customer's lock. The same body twice has the same customer, so
  duplicates meet in one applier, as on one process.
- Each applier (a forked process with its own database connection) keys,
  parses and applies its batches with ``backfill_events``, each batch one
  transaction as before. While one applier's Python runs, the other's
  statements run in PostgreSQL: both cores are busy. A pipeline (parse in
  one process, apply in another) would not be enough: applying has Python
  of its own (about 12 s per million messages) that would still alternate
  with the database's work.
- Advisers are shared by customers, and so by appliers, and every batch
  of a backfill confirms every adviser (newer field times): locked early,
  they would make each applier wait for the other's whole batch. So the
  backfill asks the normaliser for late adviser locks
  (``late_adviser_locks``): read without a lock, locked in ``closer_id``
  order just before the batch's metrics and commit. A batch
  that really changes an adviser's details locks early, as webhooks do
  (tests/test_concurrent_workers.py); should that ever deadlock with
  another applier, PostgreSQL aborts one batch and it is retried
  (``backfill.services``; the summary counts such retries).
- Memory follows the batch, not the dump: each applier's inbox holds one
  batch (bytes of the records, not parsed objects), and this process holds
  at most one batch being filled per applier.
- Ctrl-C: appliers ignore SIGINT; this process tells them to stop, each
  finishes (commits) the batch it is applying and takes no other, and their
  results are counted in the summary. A rerun adds the rest (dedupe keys).

tests/backfill/test_backfill_workers.py pins it to the one-process archive.
"""

import gc
import json
import multiprocessing
import os
import queue
import signal
import traceback
import zlib
from collections.abc import Generator, Iterator
from dataclasses import dataclass, field, replace
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from typing import Any

from django.db import DatabaseError, connections

from conversations import services as archive

from .dumps import BytesRead, Position, Unreadable, read_source
from .services import BackfillResult, Failure, backfill_events, dumped_event

# Applier processes by default: one per core, and no more than this (each
# is a database connection and a batch in memory).
MAX_DEFAULT_WORKERS = 4
_WAIT = 0.2  # seconds between checks while waiting on a queue
_GC_EVERY_BATCHES = 10


def default_workers() -> int:
    return max(1, min(len(os.sched_getaffinity(0)), MAX_DEFAULT_WORKERS))


@dataclass
class AppliedBatch:
    """What became of some records: a batch applied, or unreadable records."""

    read: int
    unreadable: list[Unreadable] = field(default_factory=list)
    result: BackfillResult = field(default_factory=BackfillResult)
    bytes_read: int = 0  # of all the files, when the batch was cut


class WorkerDatabaseError(DatabaseError):
    """An applier stopped on a database error no record caused (database
    down, schema not migrated); the message names the original error."""


@dataclass
class _Shipment:
    """One batch for one applier: each record's position, and its bytes as
    read (NDJSON) or its decoded value (array elements, which have no bytes)."""

    records: list[tuple[Position, bytes | None, Any]] = field(default_factory=list)
    messages: int = 0
    bytes_read: int = 0


class ApplierPool:
    """``workers`` applier processes; ``run`` feeds them a dump and yields
    what each batch became; ``wind_down`` after an interruption."""

    def __init__(self, *, workers: int, dry_run: bool) -> None:
        # Forked: the children inherit the settings (and, in tests, the test
        # database). No connection may be shared across the fork.
        connections.close_all()
        context = multiprocessing.get_context("fork")
        self._stop = context.Event()
        self._results: Queue[tuple[Any, ...]] = context.Queue()
        self._inboxes: list[Queue[_Shipment | None]] = [
            context.Queue(maxsize=1) for _ in range(workers)
        ]
        self._finished: set[int] = set()
        self._failure: BaseException | None = None
        self._processes: list[BaseProcess] = []
        for shard, inbox in enumerate(self._inboxes):
            process = context.Process(
                target=_apply_shipments,
                args=(inbox, self._results, self._stop, dry_run),
                name=f"backfill-applier-{shard}",
                daemon=True,
            )
            process.start()
            self._processes.append(process)

    def run(
        self, sources: list[str], size: int, max_messages: int, bytes_read: BytesRead
    ) -> Generator[AppliedBatch, None, None]:
        """Read every source, route its records, yield each outcome as it comes.

        Batches are cut per applier at ``size`` events or ``max_messages``
        messages, as on one process."""
        pending = [_Shipment() for _ in self._inboxes]
        for item in _records(sources, bytes_read):
            if self._stop.is_set():
                break  # an applier failed: read no further
            if isinstance(item, Unreadable):
                yield AppliedBatch(read=1, unreadable=[item], bytes_read=bytes_read.count)
                continue
            shard = _shard_of(item.payload, len(self._inboxes))
            shipment = pending[shard]
            shipment.records.append(
                (item.position, item.raw, None if item.raw is not None else item.payload)
            )
            history = item.payload.get("messageHistory") if isinstance(item.payload, dict) else None
            shipment.messages += len(history) if isinstance(history, list) else 0
            if len(shipment.records) >= size or shipment.messages >= max_messages:
                shipment.bytes_read = bytes_read.count
                yield from self._send(shard, shipment)
                pending[shard] = _Shipment()
        for shard, shipment in enumerate(pending):
            if shipment.records:
                shipment.bytes_read = bytes_read.count
                yield from self._send(shard, shipment)
        for shard in range(len(self._inboxes)):
            yield from self._send(shard, None)
        yield from self._collect_until_finished()

    def wind_down(self) -> Iterator[AppliedBatch]:
        """After Ctrl-C: each applier finishes its batch and takes no other;
        yield what they committed. A second Ctrl-C ends them at once (``close``)."""
        self._stop.set()
        yield from self._collect_until_finished(raising=False)

    def close(self) -> None:
        self._stop.set()
        for process in self._processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()  # its open transaction is rolled back by the server
                process.join()
        for inbox in self._inboxes:
            inbox.cancel_join_thread()  # never wait to flush a batch no one will take
            inbox.close()
        self._results.close()

    def _send(self, shard: int, shipment: _Shipment | None) -> Iterator[AppliedBatch]:
        while not self._stop.is_set():
            try:
                self._inboxes[shard].put(shipment, timeout=_WAIT)
                return
            except queue.Full:
                yield from self._collect(block=False)

    def _collect_until_finished(self, *, raising: bool = True) -> Iterator[AppliedBatch]:
        while len(self._finished) < len(self._processes):
            yield from self._collect(block=True)
        if raising and self._failure is not None:
            raise self._failure

    def _collect(self, *, block: bool) -> Iterator[AppliedBatch]:
        """Yield the outcomes waiting; stop every applier when one fails."""
        while True:
            try:
                message = self._results.get(timeout=_WAIT) if block else self._results.get_nowait()
            except queue.Empty:
                self._check_alive()
                return
            kind, shard, *rest = message
            if kind == "batch":
                yield rest[0]
                continue
            self._finished.add(shard)
            if kind == "database":
                self._fail(WorkerDatabaseError(rest[0]))
            elif kind == "crash":
                self._fail(RuntimeError(f"a backfill applier failed:\n{rest[0]}"))
            if block:
                return

    def _fail(self, error: BaseException) -> None:
        # The other appliers finish their batch and stop; theirs are counted.
        self._failure = self._failure or error
        self._stop.set()

    def _check_alive(self) -> None:
        for shard, process in enumerate(self._processes):
            if shard not in self._finished and process.exitcode is not None:
                self._finished.add(shard)
                self._fail(RuntimeError(f"a backfill applier died (exit code {process.exitcode})"))


def _records(sources: list[str], bytes_read: BytesRead) -> Iterator[Any]:
    for source in sources:
        yield from read_source(source, bytes_read)


def _shard_of(payload: Any, workers: int) -> int:
    """The applier of a record: its customer's, stable across runs and processes."""
    return zlib.crc32(archive.customer_id_of(payload).encode()) % workers


def _apply_shipments(
    inbox: "Queue[_Shipment | None]", results: "Queue[tuple[Any, ...]]", stop: Event, dry_run: bool
) -> None:
    """An applier's life: apply each batch of its inbox until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the reading process decides (wind_down)
    shard = int(multiprocessing.current_process().name.rsplit("-", 1)[1])
    gc.collect()
    gc.freeze()  # what was inherited: never rescanned
    gc.disable()  # collected between batches instead (see the command)
    try:
        applied = 0
        while not stop.is_set():
            try:
                shipment = inbox.get(timeout=_WAIT)
            except queue.Empty:
                continue
            if shipment is None or stop.is_set():
                break
            events = [
                dumped_event(
                    payload=json.loads(raw) if raw is not None else payload,
                    position=position,
                    raw=raw,
                )
                for position, raw, payload in shipment.records
            ]
            result = backfill_events(events=events, dry_run=dry_run)
            # Failures go back without what only applying needed.
            result.failures = [
                Failure(replace(f.event, prepared=None, raw=None), f.reason)
                for f in result.failures
            ]
            results.put(
                (
                    "batch",
                    shard,
                    AppliedBatch(
                        read=len(shipment.records), result=result, bytes_read=shipment.bytes_read
                    ),
                )
            )
            del shipment, events, result
            applied += 1
            if applied % _GC_EVERY_BATCHES == 0:
                gc.collect()
    except DatabaseError as error:
        results.put(("database", shard, f"{type(error).__name__}: {error}"))
    except BaseException:
        results.put(("crash", shard, traceback.format_exc()))
    else:
        results.put(("done", shard))
    finally:
        connections.close_all()
