"""People: customers and advisers upserted by their Closer id, newest details winning.

Each field keeps the time of the event that wrote it (``field_times``), so
an older event never overwrites what a newer one wrote, in whatever order
they arrive. Rows are created and locked in ``closer_id`` order: the lock
serialises two workers on one customer, and the order keeps batches that
span many customers from deadlocking.

A conversation is exported with its customer's and adviser's details, so a
real change of a detail (a rename, a new email) bumps ``updated_at`` of that
person's conversations too, in one UPDATE in the batch's transaction: a
client syncing with ``updated_since`` is sent them again. A re-delivery, or a
newer event repeating the same values, changes no detail and bumps nothing.
"""

import logging
from datetime import datetime
from typing import Any

from django.db.models import Q
from django.utils import timezone

from ..models import Adviser, Conversation, Customer
from ..payloads import PersonDetails

logger = logging.getLogger(__name__)

# A bump this large is logged (an adviser renamed, typically).
_MANY_CONVERSATIONS = 10_000


def upsert_people(
    *,
    customers: list[tuple[PersonDetails, int]],
    advisers: list[tuple[PersonDetails, int]],
    late_adviser_locks: bool = False,
) -> tuple[dict[str, Customer], dict[str, Adviser], list[tuple[PersonDetails, int]]]:
    """Upsert a batch's customers, then its advisers; return each kind's rows
    by Closer id, and the adviser sightings left for ``merge_late_advisers``.
    A sighting is (details, event time in ms).

    The conversations of people whose details changed are bumped last, once
    every person of the batch is locked: an adviser's conversations belong
    to many customers, and bumping a customer's before waiting for an
    adviser's lock would hold rows another worker's adviser bump needs
    while it waits for us (a deadlock).

    With ``late_adviser_locks`` (the backfill's appliers), advisers whose
    details the batch does not change (only the times of fields it
    confirms, the common case) are created if missing but locked and merged
    only by ``merge_late_advisers`` at the end of the transaction: every
    batch of a backfill confirms every adviser, and locking them here would
    hold them for the whole batch, making parallel appliers take turns.
    """
    now = timezone.now()
    customer_rows, altered_customers = _upsert(Customer, customers, now=now)
    late: list[tuple[PersonDetails, int]] = []
    if late_adviser_locks and advisers:
        adviser_rows, would_alter = _created_and_read(Adviser, advisers)
        if would_alter:
            adviser_rows, altered_advisers = _upsert(Adviser, advisers, now=now)
        else:
            late, altered_advisers = advisers, []
    else:
        adviser_rows, altered_advisers = _upsert(Adviser, advisers, now=now)
    _bump_conversations(altered_customers, altered_advisers, now=now)
    return customer_rows, adviser_rows, late


def merge_late_advisers(sightings: list[tuple[PersonDetails, int]]) -> None:
    """Lock and merge the advisers ``upsert_people`` left (in ``closer_id``
    order, as any batch locks them), just before the transaction ends."""
    now = timezone.now()
    _, altered = _upsert(Adviser, sightings, now=now)
    _bump_conversations([], altered, now=now)  # changed meanwhile by another batch: rare


def _bump_conversations(customer_ids: list[int], adviser_ids: list[int], *, now: datetime) -> None:
    if customer_ids or adviser_ids:
        # Set-based: one statement however many conversations a person has
        # (an adviser with 100,000 renamed: docs/benchmarks.md).
        bumped = Conversation.objects.filter(
            Q(customer_id__in=customer_ids) | Q(assignee_id__in=adviser_ids)
        ).update(updated_at=now)
        if bumped >= _MANY_CONVERSATIONS:
            # Seconds inside the batch's transaction: say why it was slow.
            logger.info("new person details: %d conversations marked changed", bumped)


def _created_and_read(
    model: type[Any], sightings: list[tuple[PersonDetails, int]]
) -> tuple[dict[str, Any], bool]:
    """Create missing rows (with the batch's details) and read all of them
    without a lock; say whether the sightings would change a detail's value.

    Read first and insert only what is missing: an INSERT meeting a row that
    another transaction is updating waits for it to end, a read does not."""
    closer_ids = sorted({details.closer_id for details, _ in sightings})
    rows = {row.closer_id: row for row in model.objects.filter(closer_id__in=closer_ids)}
    if len(rows) < len(closer_ids):
        fresh = {c: model(closer_id=c) for c in closer_ids if c not in rows}
        _merge_details(fresh, [s for s in sightings if s[0].closer_id in fresh])
        model.objects.bulk_create(list(fresh.values()), ignore_conflicts=True)
        rows = {row.closer_id: row for row in model.objects.filter(closer_id__in=closer_ids)}
    _, _, altered = _merge_details(rows, sightings)  # on these copies only
    return rows, bool(altered)


def _upsert(
    model: type[Any], sightings: list[tuple[PersonDetails, int]], *, now: datetime
) -> tuple[dict[str, Any], list[int]]:
    """Create missing rows, lock all of them, merge details newest-first;
    return the rows by Closer id, and the ids of those whose details changed."""
    if not sightings:
        return {}, []
    closer_ids = sorted({details.closer_id for details, _ in sightings})
    # New people are inserted with the batch's own merged details, so a new
    # row is written once (each write also updates the admin's trigram
    # index), not inserted blank and then updated. A row that already
    # exists is left alone by the insert and merged under its lock below.
    fresh: dict[str, Any] = {closer_id: model(closer_id=closer_id) for closer_id in closer_ids}
    _merge_details(fresh, sightings)
    model.objects.bulk_create(list(fresh.values()), ignore_conflicts=True)
    rows = {
        row.closer_id: row
        for row in model.objects.select_for_update()
        .filter(closer_id__in=closer_ids)
        .order_by("closer_id")
    }
    changed, changed_fields, altered = _merge_details(rows, sightings)
    if changed:
        for row in changed.values():
            row.updated_at = now
        # Every row exists and is locked by now, so this INSERT .. ON CONFLICT
        # DO UPDATE is a bulk update in one statement (bulk_update's CASE per
        # row grows quadratically with the batch).
        model.objects.bulk_create(
            list(changed.values()),
            update_conflicts=True,
            unique_fields=["closer_id"],
            update_fields=[*sorted(changed_fields), "field_times", "updated_at"],
        )
    return rows, sorted(rows[closer_id].pk for closer_id in altered)


def _merge_details(
    rows: dict[str, Any], sightings: list[tuple[PersonDetails, int]]
) -> tuple[dict[str, Any], set[str], set[str]]:
    """Apply each sighting's fields to its row where it is the newest seen
    for that field (per-field times in ``field_times``); return the rows that
    changed (a value, or only a field's time), the names of the fields whose
    value changed, and the Closer ids of the rows where a value did."""
    changed: dict[str, Any] = {}
    changed_fields: set[str] = set()
    altered: set[str] = set()
    for details, event_ms in sightings:
        row = rows[details.closer_id]
        for name, value in details.values.items():
            if value is None:
                continue  # a missing field never erases a known one
            written_ms = row.field_times.get(name, -1)
            if event_ms < written_ms:
                continue
            if event_ms != written_ms:
                row.field_times[name] = event_ms
                changed[details.closer_id] = row
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed_fields.add(name)
                changed[details.closer_id] = row
                altered.add(details.closer_id)
    return changed, changed_fields, altered
