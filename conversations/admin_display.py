"""How the archive's admin pages show things: links, times, previews, authors.

Plain functions the model admins in ``conversations.admin`` format their
columns and pages with.
"""

import unicodedata
from datetime import datetime
from typing import Any

from django.db.models import Model
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.html import escape, format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from . import selectors, timeformat
from .models import (
    Adviser,
    Conversation,
    ConversationEvent,
    Customer,
    MessageRole,
    title_name,
)
from .search_matches import SearchMatch
from .search_syntax import Highlighted


def admin_link(obj: Model | None, label: str | None = None) -> str:
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def archive_time(value: datetime | None) -> str | None:
    """A time as the archive's pages show it: "2026-11-28 14:05 CET", in the
    current time zone (``timeformat.minute``, the format Django's own dates
    are given in closerarchive/formats/)."""
    if value is None:
        return None
    return timeformat.minute(value)


# A name in a list cell, a few lines of its narrow column at most.
CELL_NAME_LENGTH = 48


def person_cell(name: str) -> str:
    """A name in a list cell: cut at ``CELL_NAME_LENGTH`` characters, the
    whole name (up to a title's length) in the tooltip when it was cut."""
    if len(name) <= CELL_NAME_LENGTH:
        return name
    return format_html(
        '<span title="{}">{}</span>', title_name(name), Truncator(name).chars(CELL_NAME_LENGTH)
    )


def short_preview(text: str, limit: int = 80) -> str:
    """``Truncator(text).chars(limit)``, without its per-character walk when
    the text is short enough already (as most first messages are)."""
    if len(text) <= limit:
        return unicodedata.normalize("NFC", text)  # as Truncator returns it
    return Truncator(text).chars(limit)


def conversations_url(**filters: Any) -> str:
    """The conversation changelist, filtered (by the autocomplete filters' parameters)."""
    return reverse("admin:conversations_conversation_changelist") + "?" + urlencode(filters)


def conversation_table(conversations: list[Conversation], all_url: str) -> str:
    rows = format_html_join(
        "",
        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                admin_link(c, f"#{c.pk}"),
                archive_time(c.opened_at),
                c.get_status_display(),
                c.message_count,
                short_preview(c.preview),
            )
            for c in conversations
        ),
    )
    return format_html(
        "<table><thead><tr><th>Conversation</th><th>Opened</th><th>Status</th>"
        "<th>Messages</th><th>Preview</th></tr></thead><tbody>{}</tbody></table>"
        '<p><a href="{}">All conversations &rsaquo;</a></p>',
        rows,
        all_url,
    )


def attachment(chunks: Any, content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def side_of(role: str) -> str:
    if role == MessageRole.CUSTOMER:
        return "customer"
    if role == MessageRole.ADVISER:
        return "adviser"
    return "other"


def author_label(message: Any, customer: Customer, adviser: Adviser | None) -> str:
    # Names cut as in titles: a transcript line is the message, not a pasted name.
    if message.author_role == MessageRole.CUSTOMER:
        return title_name(str(customer))
    if adviser is not None and message.author_closer_id == adviser.closer_id:
        return title_name(str(adviser))
    who = message.author_email or message.author_closer_id or "unknown"
    return f"{who} ({message.author_role.lower()})"


def transcript_lines(conversation: Conversation) -> list[dict[str, Any]]:
    """The conversation's messages, oldest first, as the page and the
    downloads show them: side (customer, adviser, other), author, time, text."""
    customer, adviser = conversation.customer, conversation.assignee
    return [
        {
            "side": side_of(message.author_role),
            "author": author_label(message, customer, adviser),
            "sent_at": message.sent_at,
            "text": message.text,
        }
        for message in selectors.transcript(conversation=conversation)
    ]


def event_label(event: ConversationEvent) -> str:
    """ "conversation.closed at 2026-12-07 14:03:05.120 CET" """
    return f"{event.get_kind_display()} at {timeformat.epoch_ms(event.occurred_ms)}"


def inbound_event_url(event: ConversationEvent) -> str:
    # By URL name: the archive does not import the webhooks app.
    return reverse("admin:webhooks_inboundevent_change", args=[event.inbound_event_id])


def marked(pieces: Highlighted) -> SafeString:
    """A highlighted text as HTML: every piece escaped, the marked ones in
    ``<mark>``. The text never carries markup of its own."""
    return mark_safe(  # noqa: S308 -- every piece is escaped
        "".join(f"<mark>{escape(text)}</mark>" if hit else escape(text) for text, hit in pieces)
    )


def search_match_html(match: SearchMatch | None, preview: str) -> str:
    """Why a listed conversation matched a search: the fields that hold the
    fragment ("matched customer e-mail: …") and the matching message's
    snippet; the preview when neither shows (a fragment running across two
    fields, or a search of exclusions alone)."""
    if match is None:
        return short_preview(preview)
    lines = [
        format_html('<span class="match-field">matched {}: {}</span>', label, marked(value))
        for label, value in match.fields
    ]
    if match.snippet is not None:
        lines.append(format_html('<span class="match-snippet">{}</span>', marked(match.snippet)))
    return mark_safe("<br>".join(lines))  # noqa: S308 -- built by format_html
