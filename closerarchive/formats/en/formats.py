"""The admin's one date format: ISO order, 24-hour clock, the time zone named.

"2026-12-07 14:03 CET" in settings.TIME_ZONE, wherever Django renders a date
or time in English (list columns, read-only fields, the history page). The
archive's own columns and transcripts write the same with strftime
(conversations.admin_display.archive_time). The API and the exports keep
ISO 8601 (REST_FRAMEWORK's DATETIME_FORMAT). Formats not named here (the
date hierarchy's "December 2026", "Dec. 7") stay Django's own.
"""

DATE_FORMAT = "Y-m-d"
SHORT_DATE_FORMAT = "Y-m-d"
TIME_FORMAT = "H:i T"
DATETIME_FORMAT = "Y-m-d H:i T"
SHORT_DATETIME_FORMAT = "Y-m-d H:i T"
