"""GDPR erasure of one customer, and the tombstone that keeps them erased.

What holds a customer's personal data, and what erasure does to it:

- the archive (customer, conversations, messages, ledger rows): deleted by
  ``conversations.services.erase_customer_rows``;
- every ``InboundEvent`` that carried their data, from webhooks and from
  the backfill (the raw body, the headers, the sender's address, the error
  text): blanked and marked ``erased`` (``InboundEvent.blank_erased``). The
  row and its dedupe key stay, so a sender's retry of an erased event is
  still recognised as a duplicate (200, nothing stored). Events are found by
  the customer id the inbox filed them under (``customer_id_of``, the same
  reading as the archive's) and, for bodies that could not be parsed, by
  their id or e-mail appearing in the raw body;
- a ``CustomerErasure`` row is written: the audit record (when, by whom,
  what was removed) and the tombstone. It names the customer only by a
  SHA-256 of their Closer id.

The customer cannot come back from the past: an event of theirs timestamped
before the erasure that is processed later (a retry without ``webhook-id``
whose body differs, a reprocess, a backfilled dump) is marked ``erased`` and
not applied (``erased_among``, called by processing and the backfill under
a lock the erasure also takes). An event timestamped after the erasure is
new data (the person came back to chat) and is archived as usual.
"""

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.fields import BooleanField
from django.utils import timezone

from conversations import services as archive

from .models import CustomerErasure, EventStatus, InboundEvent, customer_key

audit_log = logging.getLogger("closerarchive.audit")


class CustomerNotFound(LookupError):
    pass


@dataclass(frozen=True)
class ErasureResult:
    erasures: list[CustomerErasure]

    @property
    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for erasure in self.erasures:
            for kind, count in erasure.counts.items():
                total[kind] = total.get(kind, 0) + count
        return total


def erase_customer(*, identifier: str, erased_by: str = "") -> ErasureResult:
    """Erase the customer whose Closer id is ``identifier``, or every customer
    whose e-mail is ``identifier`` (case-insensitive); surrounding spaces are
    ignored. Raise ``CustomerNotFound`` and change nothing when there is none."""
    identifier = identifier.strip()
    matching = archive.customers_matching(identifier)
    emails = {customer.closer_id: customer.email for customer in matching}
    # Events received but not yet processed have no customer row yet.
    if (
        not matching
        and "@" not in identifier
        and InboundEvent.objects.filter(customer_closer_id=identifier).exists()
    ):
        emails = {identifier: ""}
    if not emails:
        raise CustomerNotFound(f"no customer has the Closer id or e-mail {identifier!r}")
    # In customer-key order: the order in which workers take the same locks.
    closer_ids = sorted(emails, key=customer_key)
    with transaction.atomic():
        erasures = [
            _erase_one(closer_id=closer_id, email=emails[closer_id], erased_by=erased_by)
            for closer_id in closer_ids
        ]
    for erasure in erasures:
        audit_log.warning(
            "erase_customer: customer %s erased by %s at %s; removed %s",
            erasure.customer_key,
            erasure.erased_by or "unknown",
            erasure.erased_at.isoformat(),
            ", ".join(f"{kind}={count}" for kind, count in erasure.counts.items()),
        )
    return ErasureResult(erasures)


def _erase_one(*, closer_id: str, email: str, erased_by: str) -> CustomerErasure:
    key = customer_key(closer_id)
    # First the stored events: this waits for a worker applying one of them
    # (it holds the event's row lock) to commit.
    blanked = _blank_inbound_events(closer_id, [closer_id, *([email] if email else [])])
    # Then keep any other worker out until the tombstone is committed: a
    # worker takes this lock (shared) before it checks for the tombstone.
    # Same order as the workers (event row, then this lock): no deadlock.
    _lock_customers([key], shared=False)
    erasure, _ = CustomerErasure.objects.update_or_create(
        customer_key=key, defaults={"erased_at": timezone.now(), "erased_by": erased_by[:150]}
    )
    erasure.counts = {
        **archive.erase_customer_rows(closer_id=closer_id),
        "inbound_events": blanked,
    }
    erasure.save(update_fields=["counts"])
    return erasure


def _blank_inbound_events(closer_id: str, needles: list[str]) -> int:
    """Blank every stored event that carries the customer's data: those filed
    under their id, and those that could not be parsed (no customer id on the
    row) but whose raw body names their id or e-mail."""
    unparsed = Q(customer_closer_id="") & ~Q(status=EventStatus.ERASED)
    mentions = Q()
    for needle in needles:
        mentions |= Q(_raw_body_contains(needle.encode()))
    events = InboundEvent.objects.filter(Q(customer_closer_id=closer_id) | (unparsed & mentions))
    return events.blank_erased()


def _raw_body_contains(needle: bytes) -> RawSQL:
    # A bytea/blob substring test; the needle is a bound parameter.
    if connection.vendor == "postgresql":
        sql = "position(%s in raw_body) > 0"
    else:
        sql = "instr(raw_body, %s) > 0"
    return RawSQL(sql, [needle], output_field=BooleanField())  # noqa: S611


def _lock_customers(keys: list[str], *, shared: bool) -> None:
    """Transaction-scoped advisory locks on customers, in the order given:
    processing takes them shared, erasure exclusive. PostgreSQL only;
    SQLite serialises writers anyway."""
    if connection.vendor != "postgresql":
        return
    lock_ids = [int.from_bytes(bytes.fromhex(key[:16]), "big", signed=True) for key in keys]
    function = "pg_advisory_xact_lock_shared" if shared else "pg_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {function}(lock_id) FROM unnest(%s::bigint[]) WITH ORDINALITY"  # noqa: S608
            " AS t(lock_id, n) ORDER BY n",  # (function is one of two fixed names)
            [lock_ids],
        )


def erased_among(payloads: Mapping[int, Any]) -> set[int]:
    """The keys of ``payloads`` that are events of erased customers from before
    their erasure. Takes the customers' locks (shared, in a stable order) so
    an erasure in progress is waited for; call inside the applying transaction."""
    keys: dict[int, str] = {}
    for ref, payload in payloads.items():
        customer_id = archive.customer_id_of(payload)
        if customer_id:
            keys[ref] = customer_key(customer_id)
    if not keys:
        return set()
    _lock_customers(sorted(set(keys.values())), shared=True)
    erased_at = dict(
        CustomerErasure.objects.filter(customer_key__in=set(keys.values())).values_list(
            "customer_key", "erased_at"
        )
    )
    found = set()
    for ref, key in keys.items():
        if key in erased_at:
            timestamp = payloads[ref].get("timestamp")
            if isinstance(timestamp, bool) or not isinstance(timestamp, int | float):
                found.add(ref)  # no usable time: treat as from before, never resurrect
            elif timestamp <= archive.datetime_to_ms(erased_at[key]):
                found.add(ref)
    return found
