"""The roll-up sums of the Insights page in one scan (PostgreSQL).

Replaces the three roll-up queries of ``queries.report`` (``period_slices``,
the heat map's and the per-adviser counts) with one ``GROUPING SETS`` query:
at a few conversations an hour the roll-up holds about a row per
conversation, so each scan of a range costs as much as the charts' work.
``tests/conversations/test_insights_one_scan.py`` pins it to the plain
queries.
"""

from datetime import date
from typing import Any

from django.db import connection

from ..models import ConversationStatus, InsightsHour

_PERIOD = "date_trunc(%(period)s, hour AT TIME ZONE %(zone)s)"
_WEEKDAY = "extract(isodow FROM hour AT TIME ZONE %(zone)s)::int"
_LOCAL_HOUR = "extract(hour FROM hour AT TIME ZONE %(zone)s)::int"
_SQL = f"""
SELECT grouping({_PERIOD}, {_WEEKDAY}, assignee_id) AS kind,
       {_PERIOD}, status, closed_type, handling, {_WEEKDAY}, {_LOCAL_HOUR}, assignee_id,
       sum(conversations), sum(answered), sum(customer_messages), sum(adviser_messages),
       sum(assignee_messages),
       sum(CASE WHEN status = %(closed)s THEN conversations ELSE 0 END),
       sum(CASE WHEN closed_type = %(solved)s THEN conversations ELSE 0 END)
FROM {InsightsHour._meta.db_table}
WHERE hour >= %(start)s AND hour < %(end)s {{slice}}
GROUP BY GROUPING SETS (
    ({_PERIOD}, status, closed_type, handling),
    ({_WEEKDAY}, {_LOCAL_HOUR}),
    (assignee_id)
)
"""  # noqa: S608 (the table's name only; values are parameters)
# grouping() of (period, weekday, assignee): a 0 bit marks the set's column.
_SLICES, _HEATMAP, _ADVISERS = 0b011, 0b101, 0b110


def rollup_sums(chosen: Any, *, solved: str) -> dict[str, list[dict[str, Any]]]:
    """For ``chosen``, a ``queries.InsightsFilter`` (which imports this
    module), and ``solved``, the closing type counted as solved:
    ``slices`` as ``queries.period_slices`` gives them (periods as days),
    ``heatmap`` as ``queries.heatmap``, and ``advisers``: the per-assignee
    counts ``queries.advisers`` reads."""
    params: dict[str, Any] = {
        "period": chosen.period,
        "zone": str(chosen.zone),
        "start": chosen.start,
        "end": chosen.end,
        "closed": ConversationStatus.CLOSED,
        "solved": solved,
    }
    condition = ""
    if chosen.adviser_id is not None:
        condition += " AND assignee_id = %(adviser)s"
        params["adviser"] = chosen.adviser_id
    if chosen.handling is not None:
        condition += " AND handling = %(handling)s"
        params["handling"] = chosen.handling
    found: dict[str, list[dict[str, Any]]] = {"slices": [], "heatmap": [], "advisers": []}
    with connection.cursor() as cursor:
        cursor.execute(_SQL.replace("{slice}", condition), params)
        rows = cursor.fetchall()
    for kind, period, status, closed_type, handled, weekday, hour, assignee, *sums in rows:
        opened, answered, customer, adviser, sent, closed, solved = sums
        if kind == _SLICES:
            found["slices"].append(
                {
                    "period": _day(period),
                    "status": status,
                    "closed_type": closed_type,
                    "handling": handled,
                    "opened": opened,
                    "answered_sum": answered,
                    "customer_sum": customer,
                    "adviser_sum": adviser,
                }
            )
        elif kind == _HEATMAP:
            found["heatmap"].append({"weekday": weekday, "hour": hour, "conversations": opened})
        elif kind == _ADVISERS:
            found["advisers"].append(
                {
                    "assignee_id": assignee,
                    "opened": opened,
                    "messages_sent": sent,
                    "closed": closed,
                    "solved": solved,
                }
            )
    found["heatmap"].sort(key=lambda cell: (cell["weekday"], cell["hour"]))
    return found


def _day(period: Any) -> date:
    return period.date()
