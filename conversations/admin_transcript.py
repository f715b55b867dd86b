"""The conversation's page in the admin: its transcript (the searched words
marked), the transcript's downloads and the permalink ``/c/<token>/``.

``TranscriptPageAdmin`` is mixed into ``admin.ConversationAdmin``.
"""

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.http import content_disposition_header, urlencode

from audit.models import AccessAction
from audit.services import record_access

from . import permalinks, selectors, timeformat
from .admin_display import event_label, inbound_event_url, marked, transcript_lines
from .models import Conversation, DeletionReason
from .search_matches import matches_whole_words, search_terms
from .search_syntax import highlight
from .transcript_files import TranscriptFile


class TranscriptPageAdmin(admin.ModelAdmin):
    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Conversation | None = None,
    ) -> HttpResponse:
        if obj is not None:
            context.update(self.transcript_context(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def transcript_context(
        self, request: HttpRequest, conversation: Conversation
    ) -> dict[str, Any]:
        customer = conversation.customer
        transcript = transcript_lines(conversation)
        searched = searched_from(request)
        hits = self.mark_hits(transcript, searched, using=conversation._state.db or "default")
        return {
            "transcript": transcript,
            "searched": searched,
            "search_hits": hits,
            "download_text_url": self.download_url(conversation, "text"),
            "download_html_url": self.download_url(conversation, "html"),
            "permalink_url": request.build_absolute_uri(permalink_path(conversation)),
            "visitor_context": sorted(
                (str(key), value if isinstance(value, str) else repr(value))
                for key, value in conversation.visitor_context.items()
            ),
            "building_events": [
                {"label": event_label(event), "url": inbound_event_url(event)}
                for event in selectors.building_events(conversation=conversation)
                if event.inbound_event_id is not None
            ],
            "customer_events_url": reverse("admin:webhooks_inboundevent_changelist")
            + "?"
            + urlencode({"customer_closer_id": customer.closer_id}),
        }

    def mark_hits(self, transcript: list[dict[str, Any]], searched: str, *, using: str) -> int:
        """Mark the searched words in each line (``marked_text``), flag the
        first line holding one (``first_hit``: the page scrolls to it), and
        return how many lines hold one."""
        terms = search_terms(searched)
        if not terms:
            return 0
        whole_words = matches_whole_words(using)
        hits = 0
        for line in transcript:
            pieces = highlight(line["text"], terms, whole_words=whole_words)
            if any(hit for _, hit in pieces):
                line["marked_text"] = marked(pieces)
                line["first_hit"] = hits == 0
                hits += 1
        return hits

    # --- Downloads and the permalink ------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        prefix = f"{self.opts.app_label}_{self.opts.model_name}"
        return [
            path(
                "<path:object_id>/transcript.txt",
                self.admin_site.admin_view(self.transcript_text_view),
                name=f"{prefix}_transcript_text",
            ),
            path(
                "<path:object_id>/transcript.html",
                self.admin_site.admin_view(self.transcript_html_view),
                name=f"{prefix}_transcript_html",
            ),
            *super().get_urls(),
        ]

    def download_url(self, conversation: Conversation, kind: str) -> str:
        name = f"admin:{self.opts.app_label}_{self.opts.model_name}_transcript_{kind}"
        return reverse(name, args=[conversation.pk])

    def transcript_file(self, request: HttpRequest, object_id: str) -> TranscriptFile:
        conversation = self.get_object(request, unquote(object_id))
        if conversation is None:
            raise Http404("No conversation has this id.")
        if not self.has_view_permission(request, conversation):
            raise PermissionDenied
        record_access(
            request=request,
            action=AccessAction.ADMIN_TRANSCRIPT_DOWNLOADED,
            conversation_ids=[conversation.pk],
            row_count=1,
        )
        permalink = request.build_absolute_uri(permalink_path(conversation))
        return TranscriptFile(conversation, transcript_lines(conversation), permalink)

    def transcript_text_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transcript = self.transcript_file(request, object_id)
        return download(transcript.as_text(), "text/plain", transcript.filename("txt"))

    def transcript_html_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        transcript = self.transcript_file(request, object_id)
        return download(transcript.as_html(), "text/html", transcript.filename("html"))

    def permalink_view(self, request: HttpRequest, token: str) -> HttpResponse:
        """``/c/<token>/``: the conversation now holding the link's key, or a
        page saying why none does (see conversations.permalinks)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        key = permalinks.decode(token)
        if key is None:
            return self.permalink_missing(request, "This is not a link to a conversation.")
        found = selectors.conversation_holding(
            kind=key.kind, customer_closer_id=key.customer, value=key.value
        )
        if found is None:
            return self.permalink_missing(request, why_gone(key))
        if key.made_for is not None and key.made_for != found.pk:
            # Re-paired: the key now belongs to another row (a merge, or an
            # open conversation that got its closed event with another row).
            messages.info(
                request,
                f"This link was made for conversation {key.made_for}, which has since "
                f"been re-paired: this is the conversation that now holds its event.",
            )
        return redirect(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", found.pk)

    def permalink_missing(self, request: HttpRequest, reason: str) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Conversation not found",
            "reason": reason,
        }
        return TemplateResponse(
            request, "admin/conversations/conversation/permalink_missing.html", context, status=404
        )


def why_gone(key: permalinks.PermalinkKey) -> str:
    reasons: dict[str, str] = {
        DeletionReason.MERGED: "It was merged into another conversation of the same customer.",
        DeletionReason.ERASED: "Its customer was erased from the archive.",
        DeletionReason.RETENTION: "It was deleted when its retention period ended.",
    }
    deletion = (
        selectors.deletion_of(conversation_id=key.made_for) if key.made_for is not None else None
    )
    if deletion is not None:
        reason = reasons.get(deletion.reason, deletion.get_reason_display())
        when = timeformat.minute(deletion.deleted_at)
        return f"Conversation {key.made_for} is no longer in the archive. {reason} ({when})"
    return "No conversation in the archive holds the event this link names."


def permalink_path(conversation: Conversation) -> str:
    token = permalinks.encode(permalinks.permalink_key(conversation))
    return reverse("conversation-permalink", args=[token])


def download(content: str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type=f"{content_type}; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(True, filename) or ""
    return response


@admin.site.admin_view
def conversation_permalink(request: HttpRequest, token: str) -> HttpResponse:
    """``/c/<token>/`` (closerarchive/urls.py): staff only, as the admin's pages are."""
    conversation_admin = admin.site.get_model_admin(Conversation)
    return conversation_admin.permalink_view(request, token)  # type: ignore[attr-defined]


def searched_from(request: HttpRequest) -> str:
    """The search a conversation page was opened from: the list's ``q``,
    which the admin carries in ``_changelist_filters``, or a ``q`` of its own."""
    carried = QueryDict(request.GET.get("_changelist_filters", ""))
    return selectors.clean_query(request.GET.get(SEARCH_VAR) or carried.get(SEARCH_VAR) or "")
