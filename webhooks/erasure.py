"""GDPR erasure of one customer, and the tombstone that keeps them erased.

What holds a customer's personal data, and what erasure does to it:

- the archive (customer, conversations with their search documents,
  messages, ledger rows; their e-mail on messages in other customers'
  conversations; the admin's history entries about them; the admin's
  cached filter answers): ``conversations.services.erase_customer_rows``;
- every ``InboundEvent`` that carried their data, from webhooks and from
  the backfill (the raw body, the headers, the sender's address, the error
  text): blanked and marked ``erased`` (``InboundEvent.blank_erased``). The
  row and its dedupe key stay, so a sender's retry of an erased event is
  still recognised as a duplicate (200, nothing stored). Events are found by
  the customer id the inbox filed them under (``customer_id_of``, the same
  reading as the archive's) and, for bodies that could not be parsed, by
  their id or e-mail appearing in the raw body (ignoring ASCII case). The
  admin's history entries about those events are blanked as well;
- a ``CustomerErasure`` row is written: the audit record (when, by whom,
  what was removed) and the tombstone. It names the customer only by a
  SHA-256 of their Closer id;
- once committed, on PostgreSQL, the tables written are analysed again:
  the planner's statistics (``pg_statistic``) keep sample values of
  columns (e-mails, ids, names) until the table is next analysed.

Who is erased: the customer whose Closer id is the identifier, or every
customer whose e-mail it is: on an archived customer row, or, for events
received but not processed yet (no row exists), in the stored payload's
customer e-mail (``customer_email_of``). More than one is refused unless
asked for (``AmbiguousCustomer``). A dry run does all of it in a
transaction it rolls back: its counts are exactly the erasure's, and
nothing is kept, no tombstone, no cache dropped.

The customer cannot come back from the past: an event of theirs timestamped
before the erasure that is processed later (a retry without ``webhook-id``
whose body differs, a reprocess, a backfilled dump) is marked ``erased`` and
not applied (``erased_among``, called by processing and the backfill under
a lock the erasure also takes). An event timestamped after the erasure is
new data (the person came back to chat) and is archived as usual.
"""

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from django.contrib.admin.models import LogEntry
from django.db import DatabaseError, connection, transaction
from django.db.models import Q
from django.db.models.expressions import RawSQL
from django.db.models.fields import BooleanField
from django.utils import timezone

from conversations import services as archive

from .models import CustomerErasure, EventStatus, InboundEvent, InboundEventQuerySet, customer_key

audit_log = logging.getLogger("closerarchive.audit")


class CustomerNotFound(LookupError):
    pass


class AmbiguousCustomer(LookupError):
    """The e-mail names several customers and erasing them all was not asked for."""

    def __init__(self, identifier: str, closer_ids: list[str]) -> None:
        super().__init__(f"{len(closer_ids)} customers have the e-mail {identifier!r}")
        self.identifier = identifier
        self.closer_ids = closer_ids


@dataclass(frozen=True)
class ErasureResult:
    erasures: list[CustomerErasure]
    # The customers' Closer ids, in the order of ``erasures``: for a dry
    # run's report only (the erasure itself remembers them by hash).
    closer_ids: list[str]
    dry_run: bool = False

    @property
    def counts(self) -> dict[str, int]:
        total: dict[str, int] = {}
        for erasure in self.erasures:
            for kind, count in erasure.counts.items():
                total[kind] = total.get(kind, 0) + count
        return total


def erase_customer(
    *, identifier: str, erased_by: str = "", erase_all: bool = False, dry_run: bool = False
) -> ErasureResult:
    """Erase the customer whose Closer id is ``identifier``, or the customer
    whose e-mail is ``identifier`` (case-insensitive; every such customer
    with ``erase_all``); surrounding spaces are ignored. Raise
    ``CustomerNotFound`` when there is none and ``AmbiguousCustomer`` when
    there are several and not ``erase_all``, changing nothing. ``dry_run``:
    count what would go and keep nothing."""
    identifier = identifier.strip()
    emails = customers_to_erase(identifier)
    if not emails:
        raise CustomerNotFound(f"no customer has the Closer id or e-mail {identifier!r}")
    if len(emails) > 1 and not erase_all:
        raise AmbiguousCustomer(identifier, sorted(emails))
    # In customer-key order: the order in which workers take the same locks.
    closer_ids = sorted(emails, key=customer_key)
    with transaction.atomic():
        erasures = [
            _erase_one(closer_id=closer_id, emails=emails[closer_id], erased_by=erased_by)
            for closer_id in closer_ids
        ]
        if dry_run:
            # Undo all of it, the tombstone too; callbacks waiting for the
            # commit (the cache's) are dropped with it.
            transaction.set_rollback(True)
        else:
            transaction.on_commit(_refresh_planner_statistics)
    if not dry_run:
        for erasure in erasures:
            audit_log.warning(
                "erase_customer: customer %s erased by %s at %s; removed %s",
                erasure.customer_key,
                erasure.erased_by or "unknown",
                erasure.erased_at.isoformat(),
                ", ".join(f"{kind}={count}" for kind, count in erasure.counts.items()),
            )
    return ErasureResult(erasures, closer_ids, dry_run)


def customers_to_erase(identifier: str) -> dict[str, set[str]]:
    """The Closer ids ``identifier`` names, each with the e-mails known for
    them (on their row, or in their stored events)."""
    found: dict[str, set[str]] = {
        customer.closer_id: {customer.email} if customer.email else set()
        for customer in archive.customers_matching(identifier)
    }
    if "@" in identifier:
        # Events received but not yet processed have no customer row yet.
        for closer_id in _customers_emailed_in_inbox(identifier):
            found.setdefault(closer_id, set()).add(identifier)
    elif not found and InboundEvent.objects.filter(customer_closer_id=identifier).exists():
        found[identifier] = set()
    for closer_id, emails in found.items():
        emails.update(_emails_in_inbox(closer_id))
    return found


def _customers_emailed_in_inbox(email: str) -> set[str]:
    """The customer ids of stored events whose payload gives the customer
    this e-mail (case-insensitive), processed or not."""
    candidates = (
        InboundEvent.objects.exclude(customer_closer_id="")
        .filter(_raw_body_mentions(email))
        .values_list("customer_closer_id", "raw_body")
    )
    closer_ids = set()
    for closer_id, body in candidates.iterator():
        if closer_id not in closer_ids and _payload_email(body) == email.lower():
            closer_ids.add(closer_id)
    return closer_ids


def _emails_in_inbox(closer_id: str) -> set[str]:
    """The customer e-mails the stored events filed under ``closer_id`` give."""
    bodies = InboundEvent.objects.filter(customer_closer_id=closer_id).values_list(
        "raw_body", flat=True
    )
    return {email for body in bodies.iterator() if (email := _payload_email(body))}


def _payload_email(body: Any) -> str:
    try:
        payload = json.loads(bytes(body))
    except ValueError:
        return ""
    return archive.customer_email_of(payload).lower()


def _erase_one(*, closer_id: str, emails: set[str], erased_by: str) -> CustomerErasure:
    key = customer_key(closer_id)
    # First the stored events: this waits for a worker applying one of them
    # (it holds the event's row lock) to commit.
    events = _inbound_events_of(closer_id, [closer_id, *sorted(emails)])
    logged = archive.scrub_admin_history(objects=events)
    blanked = events.blank_erased()
    # Then keep any other worker out until the tombstone is committed: a
    # worker takes this lock (shared) before it checks for the tombstone.
    # Same order as the workers (event row, then this lock): no deadlock.
    _lock_customers([key], shared=False)
    erasure, _ = CustomerErasure.objects.update_or_create(
        customer_key=key, defaults={"erased_at": timezone.now(), "erased_by": erased_by[:150]}
    )
    counts = archive.erase_customer_rows(closer_id=closer_id)
    counts["admin_log_entries"] += logged
    erasure.counts = {**counts, "inbound_events": blanked}
    erasure.save(update_fields=["counts"])
    return erasure


def _inbound_events_of(closer_id: str, needles: list[str]) -> InboundEventQuerySet:
    """Every stored event that carries the customer's data: those filed
    under their id, and those that could not be parsed (no customer id on the
    row) but whose raw body names their id or e-mail."""
    unparsed = Q(customer_closer_id="") & ~Q(status=EventStatus.ERASED)
    mentions = Q()
    for needle in needles:
        mentions |= Q(_raw_body_mentions(needle))
    events = InboundEvent.objects.filter(Q(customer_closer_id=closer_id) | (unparsed & mentions))
    return cast(InboundEventQuerySet, events)


def _raw_body_mentions(text: str) -> RawSQL:
    """The raw body contains ``text``, ignoring ASCII case, as sent or
    with JSON's \\u escapes; the needle is a bound parameter. Reads every
    body it is asked about (no index can answer it)."""
    needles = {text.lower(), json.dumps(text.lower())[1:-1]}
    if connection.vendor == "postgresql":
        # The escape format keeps ASCII as it is (bytes above it become \nnn),
        # so lower() folds ASCII letters and any byte string can be searched.
        test = "strpos(lower(encode(raw_body, 'escape')), encode(%s::bytea, 'escape')) > 0"
        params: list[Any] = [needle.encode() for needle in sorted(needles)]
    else:
        test = "instr(lower(CAST(raw_body AS TEXT)), %s) > 0"
        params = sorted(needles)
    sql = " OR ".join([f"({test})"] * len(params))
    return RawSQL(f"({sql})", params, output_field=BooleanField())  # noqa: S611


def _refresh_planner_statistics() -> None:
    """ANALYZE the tables an erasure writes, so that the statistics' sample
    values (``pg_stats``: most common values, histogram bounds) are taken
    again from rows that no longer include the customer's. One sample per
    table (30,000 rows at PostgreSQL's defaults), not a scan; it takes no
    lock that blocks reads or writes. The erasure is committed by then: a
    failure here is logged, and autovacuum's next ANALYZE does the same."""
    if connection.vendor != "postgresql":
        return
    tables = [InboundEvent._meta.db_table, LogEntry._meta.db_table, *archive.ERASED_TABLES]
    try:
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE " + ", ".join(map(connection.ops.quote_name, tables)))
    except DatabaseError:
        audit_log.exception("erase_customer: erased, but ANALYZE failed; run ANALYZE by hand")


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
