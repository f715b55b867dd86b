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
from django.utils import timezone
from django.utils.html import escape, format_html, format_html_join
from django.utils.http import urlencode
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator

from .models import Adviser, Conversation, ConversationEvent, Customer, MessageRole
from .search_matches import SearchMatch
from .search_syntax import Highlighted


def admin_link(obj: Model | None, label: str | None = None) -> str:
    if obj is None:
        return "-"
    meta = obj._meta
    url = reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[obj.pk])
    return format_html('<a href="{}">{}</a>', url, label or str(obj))


def archive_time(value: datetime | None) -> str | None:
    """A time as the archive's pages show it: "2026-11-28 14:05", in the
    current time zone, like the transcript's "Y-m-d H:i:s". Fixed width, so a
    column of them reads and compares at a glance, and about forty times
    cheaper than Django's localized "Nov. 28, 2026, 2:05 p.m." (which costs a
    changelist of fifty rows some 10 ms of CPU)."""
    if value is None:
        return None
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


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
    if message.author_role == MessageRole.CUSTOMER:
        return str(customer)
    if adviser is not None and message.author_closer_id == adviser.closer_id:
        return str(adviser)
    who = message.author_email or message.author_closer_id or "unknown"
    return f"{who} ({message.author_role.lower()})"


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
