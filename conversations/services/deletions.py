"""The deletions feed: every conversation row that leaves the archive is recorded.

Erasure, retention and re-pairing (an open conversation merged into a closed
one) each delete conversation rows; a client syncing with ``updated_since``
never sees a row again once it is gone, so it reads ``/api/v1/deletions/``.
Call ``record_deletions`` in the transaction that deletes the rows, before
the delete: it also marks the hours the rows were counted in for the Insights
roll-ups (``insights.store.forget_conversations``), which needs their metrics.

Not yet pruned: the records hold no personal data (an id, a reason, a time)
but grow with every deletion. Their retention belongs with the archive's
(``apply_retention``): prune records older than the longest gap a client may
leave between two syncs, and say so in docs/api.md ("Incremental sync"), since
a client that has not synced for longer must then pull everything again.
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
