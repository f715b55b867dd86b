"""Insights: per-conversation metrics, hourly roll-ups, and the reads of the
Insights page and ``/api/v1/insights/``.

- ``metrics``: the definitions (pure functions, one docstring each);
- ``store``: writing the metrics (called by the normaliser) and the roll-ups;
- ``queries``: the reads, from the roll-ups and the metrics table;
- ``charts``: the page's charts as server-rendered SVG.
"""
