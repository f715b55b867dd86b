"""Indexes behind conversations.selectors.search_conversations (PostgreSQL only).

- Transcript words: a GIN index on the ``simple`` text-search vector of the
  unaccented message text. ``simple`` (no stemming, no stop words) because
  transcripts mix Polish and English: an English stemmer would mangle Polish
  words, and neither language's stop-word list suits the other. ``unaccent``
  lets "zolc" find "żółć", since staff often type without diacritics.
- Customer and adviser details: one GIN trigram index per table on the
  unaccented, lower-cased concatenation of the searchable fields, so a
  fragment of a name, alias, email, phone or id is a single indexed LIKE.
- ``closed_type``: a btree so the closed-type filter can list its values with
  a loose index scan instead of a DISTINCT over every conversation.

``unaccent()`` is only STABLE (it depends on the dictionary search path), so
indexes use ``closer_unaccent``, an IMMUTABLE wrapper naming its dictionary
explicitly. The SQL here must stay identical to the expressions in
``conversations/selectors.py``, or the planner will not use the indexes.

On SQLite every operation is a no-op; search there is plain ``icontains``.
"""

from django.db import migrations

FORWARD = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE EXTENSION IF NOT EXISTS unaccent",
    """
    CREATE OR REPLACE FUNCTION closer_unaccent(text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT public.unaccent('public.unaccent'::regdictionary, $1) $$
    """,
    # WHERE to_tsvector('simple', closer_unaccent(text)) @@ websearch_to_tsquery(...)
    """
    CREATE INDEX IF NOT EXISTS message_text_search_idx ON conversations_message
    USING gin (to_tsvector('simple'::regconfig, closer_unaccent(text)))
    """,
    # WHERE closer_unaccent(lower(first_name || ' ' || ...)) LIKE '%fragment%'
    """
    CREATE INDEX IF NOT EXISTS customer_search_trgm_idx ON conversations_customer
    USING gin (closer_unaccent(lower(
        first_name || ' ' || last_name || ' ' || random_name || ' ' ||
        email || ' ' || phone || ' ' || closer_id
    )) gin_trgm_ops)
    """,
    """
    CREATE INDEX IF NOT EXISTS adviser_search_trgm_idx ON conversations_adviser
    USING gin (closer_unaccent(lower(
        first_name || ' ' || last_name || ' ' || email || ' ' || closer_id
    )) gin_trgm_ops)
    """,
    # The closed-type filter's loose index scan, and WHERE closed_type = ?.
    """
    CREATE INDEX IF NOT EXISTS conversation_closed_type_idx
    ON conversations_conversation (closed_type)
    """,
]

BACKWARD = [
    "DROP INDEX IF EXISTS conversation_closed_type_idx",
    "DROP INDEX IF EXISTS adviser_search_trgm_idx",
    "DROP INDEX IF EXISTS customer_search_trgm_idx",
    "DROP INDEX IF EXISTS message_text_search_idx",
    "DROP FUNCTION IF EXISTS closer_unaccent(text)",
    # The extensions stay: other objects in the database may use them.
]


def run_on_postgresql(statements):
    def operation(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        for statement in statements:
            schema_editor.execute(statement)

    return operation


class Migration(migrations.Migration):
    dependencies = [("conversations", "0001_initial")]

    operations = [
        migrations.RunPython(run_on_postgresql(FORWARD), run_on_postgresql(BACKWARD)),
    ]
