"""An archive of two conversations, each with a transcript word found nowhere else."""

from collections.abc import Iterator
from typing import Any

import pytest

from conversations.models import Conversation
from tests.api_support import closed_conversation
from tests.db_faults import before_insert

# Words of the transcripts: an access record must never hold them.
SECRET_WORD = "Quokkafloss"
OTHER_WORD = "Zanzibarite"


@pytest.fixture
def jon(db: Any) -> Conversation:
    return closed_conversation(
        "cust-jon",
        "2024-03-01T10:00:00",
        texts=(f"My {SECRET_WORD} order", 'It says "shipped",\nthen nothing'),
        email="jon@example.com",
    )


@pytest.fixture
def ann(db: Any) -> Conversation:
    return closed_conversation(
        "cust-ann",
        "2024-03-02T10:00:00",
        texts=(f"Hello {OTHER_WORD}",),
        email="ann@example.com",
        first_name="Ann",
    )


@pytest.fixture
def refusing_audit(transactional_db: Any) -> Iterator[None]:
    """A real database fault: the access log refuses every new record.
    Requests run in autocommit, as in production: a failed INSERT there
    ends nothing but the read."""
    with before_insert("audit_accessrecord", "RAISE EXCEPTION 'access log is refusing writes';"):
        yield
