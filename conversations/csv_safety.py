"""CSV cells that are safe to open in a spreadsheet: the one rule, for every
CSV the project writes (the API's and the admin's message exports, in
Python and in PostgreSQL's COPY alike).

A spreadsheet runs a cell starting with ``=``, ``+``, ``-`` or ``@`` as a
formula (``=HYPERLINK(...)`` that leaks data when clicked, ``@SUM`` ...),
and may skip a leading tab or carriage return to find one. OWASP's advice
against CSV injection is to prefix such a cell with a single quote, which
shows the text as written. Only text cells are touched: ids, counts and
times are written by us, never start with one of these, and a negative
number would stay a number; a message text ``-2`` or a phone ``+48 ...``
is user text and gets the quote.

A text cell that already starts with a quote gets one more, so the rule can
be undone exactly: a program reading the CSV restores every text cell by
dropping one leading ``'`` where there is one. (Without that, ``'=1`` sent
by a customer could not be told from a neutralised ``=1``.) NDJSON is the
export for programs and is never changed.
"""

# Leading characters a spreadsheet may take for the start of a formula.
FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_QUOTED_LEADS = frozenset((*FORMULA_LEADS, QUOTE))

# Excel reads a CSV as UTF-8 only when it starts with this (``?bom=1``).
UTF8_BOM = "\ufeff".encode()


def safe_text(value: str) -> str:
    """A text cell as the CSV writes it: ``value``, quoted when it starts
    with a formula lead or a quote."""
    if value and value[0] in _QUOTED_LEADS:
        return QUOTE + value
    return value


def safe_text_sql(expression: str) -> str:
    """``safe_text`` in PostgreSQL, for a text ``expression`` of a query that
    COPY writes as CSV (NULL stays NULL: an empty cell, as Python writes
    None). ``expression`` is SQL we wrote, never input."""
    # ascii() is the first character's code, read in place: cheaper than
    # comparing a one-character text that left() would allocate per cell.
    leads = ", ".join(str(ord(lead)) for lead in sorted(_QUOTED_LEADS))
    return (
        f"CASE WHEN ascii({expression}) IN ({leads})"
        f" THEN chr({ord(QUOTE)}) || {expression} ELSE {expression} END"
    )
