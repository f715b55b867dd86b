"""The transcript as one text-search document per conversation.

The admin search used to match transcript words through a GIN index over
every message (``message_text_search_idx``, 0002): a word found in 2,000
messages cost 2,000 message heap pages, then 2,000 conversation lookups to
order the result. ``conversation.transcript_search`` holds the whole
transcript's vector, so the transcript branch of the search is one bitmap
scan of the conversation table, which the customer and adviser branches join
with a BitmapOr (see ``conversations.selectors``).

The document is the ``simple`` vector (see 0002 for why ``simple`` and
``closer_unaccent``) of the messages' texts joined by spaces in transcript
order (sent_at, id), so a quoted phrase still matches across the words of
one message, and only the first 100,000 characters (a vector holds at most
1 MB). ``conversations.services`` writes the same expression
(``TRANSCRIPT_DOCUMENT`` there); this migration fills it for the archive as
it stands, builds the index after the fill (far cheaper than maintaining it
row by row) and drops the per-message index, which nothing reads any more.

On SQLite the column is added and stays null; search there is ``icontains``.
"""

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.db import migrations

# Kept identical to conversations.services.TRANSCRIPT_DOCUMENT, as it was
# when this migration was written.
FILL = """
    UPDATE conversations_conversation AS c
    SET transcript_search = d.document
    FROM (
        SELECT conversation_id,
               to_tsvector('simple'::regconfig, closer_unaccent(left(
                   string_agg(text, ' ' ORDER BY sent_at, id), 100000))) AS document
        FROM conversations_message
        GROUP BY conversation_id
    ) AS d
    WHERE c.id = d.conversation_id
"""

FORWARD = [
    FILL,
    # WHERE transcript_search @@ websearch_to_tsquery('simple', closer_unaccent(?))
    """
    CREATE INDEX IF NOT EXISTS conversation_transcript_idx
    ON conversations_conversation USING gin (transcript_search)
    """,
    "DROP INDEX IF EXISTS message_text_search_idx",
]

BACKWARD = [
    # 0002's index, as 0002 creates it.
    """
    CREATE INDEX IF NOT EXISTS message_text_search_idx ON conversations_message
    USING gin (to_tsvector('simple'::regconfig, closer_unaccent(text)))
    """,
    "DROP INDEX IF EXISTS conversation_transcript_idx",
]


def run_on_postgresql(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0005_conversation_adviser_idx"),
    ]

    operations = [
        migrations.AddField(
            model_name="conversation",
            name="transcript_search",
            field=SearchVectorField(editable=False, null=True),
        ),
        # A GIN index: PostgreSQL only, so the database side is SQL run there
        # alone (SQLite cannot parse USING gin).
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddIndex(
                    model_name="conversation",
                    index=GinIndex(fields=["transcript_search"], name="conversation_transcript_idx"),
                ),
            ],
            database_operations=[
                migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD)),
            ],
        ),
    ]
