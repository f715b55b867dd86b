"""The messages CSV's columns, shared by its two writers: Python
(``exports``) and PostgreSQL's COPY (``export_sql``)."""

MESSAGE_CSV_COLUMNS = [
    "message_id",
    "conversation_id",
    "sent_at",
    # Text from here on: the spreadsheet rule (csv_safety) applies to each.
    "author_role",
    "author_id",
    "author_email",
    "author_phone",
    "text",
    "customer_id",
    "customer_name",
    "customer_email",
    "customer_phone",
    "adviser_id",
    "adviser_name",
    "adviser_email",
]
MESSAGE_CSV_TEXT_COLUMNS = MESSAGE_CSV_COLUMNS[3:]
