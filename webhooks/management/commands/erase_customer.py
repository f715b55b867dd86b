import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks.erasure import AmbiguousCustomer, CustomerNotFound, erase_customer


class Command(BaseCommand):
    help = (
        "GDPR erasure: remove a customer's personal data and messages everywhere they are "
        "kept (customer, conversations, messages, the event ledger, stored webhook and "
        "backfill bodies and headers, the admin's history entries, cached filter choices). "
        "Leaves an audit record naming the customer only by a hash, and keeps them erased "
        "if their old events arrive again. --dry-run shows what would go."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer", metavar="ID|EMAIL", help="Closer customer id or e-mail.")
        parser.add_argument(
            "--by",
            default="",
            help="Who asked or ran it, for the audit record (default: the OS user).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Print what would be removed, by kind, and change nothing.",
        )
        parser.add_argument(
            "--all",
            action="store_true",
            dest="erase_all",
            help="Erase every customer with this e-mail (without it, an e-mail that "
            "several customers share is refused).",
        )

    def handle(
        self,
        *args: Any,
        customer: str,
        by: str,
        dry_run: bool,
        erase_all: bool,
        **options: Any,
    ) -> None:
        try:
            result = erase_customer(
                identifier=customer,
                erased_by=by or _os_user(),
                erase_all=erase_all,
                dry_run=dry_run,
            )
        except CustomerNotFound as missing:
            raise CommandError(str(missing)) from None
        except AmbiguousCustomer as ambiguous:
            raise CommandError(
                f"{len(ambiguous.closer_ids)} customers have the e-mail "
                f"{ambiguous.identifier!r} (Closer ids: {', '.join(ambiguous.closer_ids)}); "
                "nothing was erased. Erase one by its Closer id, or all of them with --all."
            ) from None
        for closer_id, erasure in zip(result.closer_ids, result.erasures, strict=True):
            if result.dry_run:
                self.stdout.write(f"dry run: erasing customer {closer_id} would remove:")
                for kind, count in erasure.counts.items():
                    self.stdout.write(f"  {kind}: {count}")
                continue
            counts = ", ".join(f"{kind}={count}" for kind, count in erasure.counts.items())
            self.stdout.write(
                f"erased customer {erasure.customer_key} at {erasure.erased_at.isoformat()}: "
                f"{counts}"
            )
        if result.dry_run:
            self.stdout.write("dry run: nothing was changed.")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
