"""A transcript as a file to keep or send: plain text, or one HTML page.

The HTML is self-contained (its CSS inline; no script, image, font or
stylesheet fetched from anywhere) and escaped by the template engine, so it
opens the same offline, in a mail client or years later. Both name their
times as the admin does (``timeformat``).
"""

from dataclasses import dataclass
from typing import Any

from django.template.loader import render_to_string
from django.utils.text import slugify

from . import timeformat
from .models import Conversation


@dataclass(frozen=True)
class TranscriptFile:
    conversation: Conversation
    lines: list[dict[str, Any]]  # side, author, sent_at, text (admin_display.transcript_lines)
    permalink: str  # absolute URL

    def heading(self) -> list[tuple[str, str]]:
        conversation = self.conversation
        adviser = conversation.assignee
        closed = "-"
        if conversation.closed_at is not None:
            closed = timeformat.minute(conversation.closed_at)
            if conversation.closed_type:
                closed += f" ({conversation.closed_type})"
        return [
            ("Customer", ", ".join(customer_details(conversation))),
            ("Adviser", ", ".join(filter(None, [str(adviser), adviser.email])) if adviser else "-"),
            ("Opened", timeformat.minute(conversation.opened_at)),
            ("Closed", closed),
            ("Messages", str(len(self.lines))),
            ("Permalink", self.permalink),
        ]

    def filename(self, extension: str) -> str:
        """ "conversation-10-jon-snow-2026-12-07.txt": which conversation,
        whose, and when, sorting by id in a folder of downloads."""
        conversation = self.conversation
        name = slugify(conversation.customer.display_name, allow_unicode=True)[:40].strip("-")
        parts = ["conversation", str(conversation.pk), name, timeformat.day(conversation.opened_at)]
        return "-".join(filter(None, parts)) + f".{extension}"

    def as_text(self) -> str:
        out = [str(self.conversation), ""]
        out += [f"{label + ':':<11}{value}" for label, value in self.heading()]
        for line in self.lines:
            out += ["", f"{timeformat.second(line['sent_at'])}  {line['author']}"]
            text = line["text"].replace("\r\n", "\n").replace("\r", "\n")
            out += [f"    {row}".rstrip() for row in text.split("\n")]
        if not self.lines:
            out += ["", "No messages."]
        return "\n".join(out) + "\n"

    def as_html(self) -> str:
        return render_to_string(
            "conversations/transcript_download.html",
            {
                "title": str(self.conversation),
                "heading": self.heading(),
                "lines": [
                    {**line, "time": timeformat.second(line["sent_at"])} for line in self.lines
                ],
            },
        )


def customer_details(conversation: Conversation) -> list[str]:
    customer = conversation.customer
    name = customer.display_name
    if customer.random_name and customer.random_name != name:
        name = f"{name} ({customer.random_name})"
    details = [name, customer.email, customer.phone]
    return [d for d in dict.fromkeys(details) if d] + [f"Closer id {customer.closer_id}"]
