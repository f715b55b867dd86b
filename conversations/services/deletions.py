"""The deletions feed: every conversation row that leaves the archive is recorded.

Erasure, retention and re-pairing (an open conversation merged into a closed
one) each delete conversation rows; a client syncing with ``updated_since``
never sees a row again once it is gone, so it reads ``/api/v1/deletions/``.
Call ``record_deletions`` in the transaction that deletes the rows, before
the delete: it also marks the hours the rows were counted in for the Insights
roll-ups (``insights.store.forget_conversations``), which needs their metrics.
"""

from collections.abc import Iterable

from ..insights.store import forget_conversations
from ..models import ConversationDeletion, DeletionReason


def record_deletions(conversation_ids: Iterable[int], *, reason: DeletionReason) -> int:
    """Record that these conversations were deleted, for ``reason``; return how many."""
    conversation_ids = list(conversation_ids)
    forget_conversations(conversation_ids)
    rows = [ConversationDeletion(conversation_id=pk, reason=reason) for pk in conversation_ids]
    ConversationDeletion.objects.bulk_create(rows, batch_size=1000)
    return len(rows)
