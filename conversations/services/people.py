"""People: customers and advisers upserted by their Closer id, newest details winning.

Each field keeps the time of the event that wrote it (``field_times``), so
an older event never overwrites what a newer one wrote, in whatever order
they arrive. Rows are created and locked in ``closer_id`` order: the lock
serialises two workers on one customer, and the order keeps batches that
span many customers from deadlocking.
"""

from typing import Any

from django.utils import timezone

from ..models import Adviser, Customer
from ..payloads import PersonDetails


def upsert_people(
    model: type[Customer | Adviser], sightings: list[tuple[PersonDetails, int]]
) -> dict[str, Any]:
    """Create missing rows, lock all of them, merge details newest-first;
    return the rows by Closer id. ``sightings``: (details, event time in ms)."""
    if not sightings:
        return {}
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
    changed, changed_fields = _merge_details(rows, sightings)
    if changed:
        now = timezone.now()
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
    return rows


def _merge_details(
    rows: dict[str, Any], sightings: list[tuple[PersonDetails, int]]
) -> tuple[dict[str, Any], set[str]]:
    """Apply each sighting's fields to its row where it is the newest seen
    for that field (per-field times in ``field_times``); return the rows that
    changed and the names of the fields that did."""
    changed: dict[str, Any] = {}
    changed_fields: set[str] = set()
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
    return changed, changed_fields
