import getpass
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from webhooks.erasure import CustomerNotFound, erase_customer


class Command(BaseCommand):
    help = (
        "GDPR erasure: remove a customer's personal data and messages everywhere they are "
        "kept (customer, conversations, messages, the event ledger, stored webhook bodies "
        "and headers). Leaves an audit record naming the customer only by a hash, and "
        "keeps them erased if their old events arrive again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("customer", metavar="ID|EMAIL", help="Closer customer id or e-mail.")
        parser.add_argument(
            "--by",
            default="",
            help="Who asked or ran it, for the audit record (default: the OS user).",
        )

    def handle(self, *args: Any, customer: str, by: str, **options: Any) -> None:
        try:
            result = erase_customer(identifier=customer, erased_by=by or _os_user())
        except CustomerNotFound as missing:
            raise CommandError(str(missing)) from None
        for erasure in result.erasures:
            counts = ", ".join(f"{kind}={count}" for kind, count in erasure.counts.items())
            self.stdout.write(
                f"erased customer {erasure.customer_key} at {erasure.erased_at.isoformat()}: "
                f"{counts}"
            )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""
