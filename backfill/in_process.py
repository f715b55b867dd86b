"""The one-process backfill (``--workers 1``): batches read ahead on a
thread and applied in the command's own process. ``backfill.pool`` is the
path with several applier processes."""

import gc
import queue
import threading
from collections.abc import Generator, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field

from .dumps import BytesRead, Unreadable, read_source
from .pool import AppliedBatch
from .services import DumpedEvent, backfill_events, dumped_event

# Memory follows messages more than events: a batch of long transcripts is
# cut early, so peak memory stays bounded whatever the dump holds.
MAX_BATCH_MESSAGES = 20_000
# Each collection rescans the batch read ahead (~0.1 s for 2000 events).
GC_EVERY_BATCHES = 10


def applied_here(
    sources: list[str], size: int, bytes_read: BytesRead, *, dry_run: bool
) -> Generator[AppliedBatch, None, None]:
    """The one-process backfill: batches read ahead on a thread, applied here."""
    with (
        collecting_garbage_between_batches(),
        closing(read_ahead(sources, size, bytes_read)) as ahead,
    ):
        for number, batch in enumerate(ahead):
            result = backfill_events(events=batch.events, dry_run=dry_run)
            yield AppliedBatch(
                read=batch.read,
                unreadable=batch.unreadable,
                result=result,
                bytes_read=batch.bytes_read,
            )
            # Freed before the next batch is unpickled: never two in memory.
            del batch, result
            if number % GC_EVERY_BATCHES == 0:
                gc.collect()


@dataclass
class _Batch:
    events: list[DumpedEvent] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    read: int = 0
    bytes_read: int = 0  # of all the files, by the end of this batch


def batches(sources: list[str], size: int, bytes_read: BytesRead | None = None) -> Iterator[_Batch]:
    """Records of every source in order, screened and keyed, cut into batches
    of ``size`` events or ``MAX_BATCH_MESSAGES`` messages, whichever comes first."""
    bytes_read = bytes_read or BytesRead()
    batch, messages = _Batch(), 0
    for source in sources:
        for item in read_source(source, bytes_read):
            batch.read += 1
            if isinstance(item, Unreadable):
                batch.unreadable.append(item)
                continue
            batch.events.append(
                dumped_event(payload=item.payload, position=item.position, raw=item.raw)
            )
            history = item.payload.get("messageHistory") if isinstance(item.payload, dict) else None
            messages += len(history) if isinstance(history, list) else 0
            if len(batch.events) >= size or messages >= MAX_BATCH_MESSAGES:
                batch.bytes_read = bytes_read.count
                yield batch
                batch, messages = _Batch(), 0
    if batch.read:
        batch.bytes_read = bytes_read.count
        yield batch


def read_ahead(
    sources: list[str], size: int, bytes_read: BytesRead
) -> Generator[_Batch, None, None]:
    """``batches`` on a second thread, one batch ahead.

    Reading, decoding and hashing the next batch then overlaps the database
    work on this one (the thread waiting on PostgreSQL releases the GIL).
    One batch ahead and no more, so memory stays flat whatever the dump.
    (A forked reader was slower: docs/benchmarks.md, Backfill.)
    """
    handoff: queue.Queue[_Batch | BaseException | None] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(item: _Batch | BaseException | None) -> bool:
        while not stop.is_set():
            try:
                handoff.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for batch in batches(sources, size, bytes_read):
                if not put(batch):
                    return
        except BaseException as error:  # handed to the main thread, raised there
            put(error)
            return
        put(None)

    reader = threading.Thread(target=produce, name="backfill-reader", daemon=True)
    reader.start()
    try:
        while (item := handoff.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join(timeout=5)  # a reader blocked on a terminal must not hang us


@contextmanager
def collecting_garbage_between_batches() -> Iterator[None]:
    """Collect garbage between batches instead of during them.

    A batch is hundreds of thousands of live objects; the automatic collector
    would rescan them again and again while they are built. A batch leaves
    only a few hundred objects in cycles, so collecting every few batches
    keeps memory flat at a fraction of the cost.
    """
    gc.collect()
    gc.freeze()  # Django's own long-lived objects: never rescanned
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()
