"""The Insights query string, read the same way by the page and the API.

``since`` and ``until`` are days (YYYY-MM-DD) in ``tz``, both included;
without them the range is the last 90 days up to today, and ``range=all``
starts at the first conversation. A bad value is an error naming its
parameter (400 in the API), never a 500.
"""

from datetime import date, timedelta
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django import forms
from django.utils import timezone

from .metrics import Handling
from .queries import PERIODS, InsightsFilter, default_period, first_opened_day

DEFAULT_DAYS = 90
# available_timezones() walks the tz database on disk at every call.
zone_names = cache(available_timezones)
# Roll-ups are hours: more than a century of them is no range anyone means.
MAX_DAYS = 36_600
_EARLIEST, _LATEST = date(1900, 1, 1), date(9000, 12, 31)


class InsightsForm(forms.Form):
    since = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    until = forms.DateField(required=False, input_formats=["%Y-%m-%d"])
    range = forms.ChoiceField(required=False, choices=[("", "given"), ("all", "all time")])
    tz = forms.CharField(required=False, max_length=100)
    period = forms.ChoiceField(required=False, choices=[("", "auto"), *((p, p) for p in PERIODS)])
    adviser = forms.IntegerField(required=False, min_value=1, max_value=2**63 - 1)
    handling = forms.ChoiceField(required=False, choices=[("", "any"), *Handling.choices])

    def clean_tz(self) -> ZoneInfo:
        name = self.cleaned_data.get("tz") or "UTC"
        if name not in zone_names() and name != "UTC":
            raise forms.ValidationError(f"{name!r} is not an IANA time zone (e.g. Europe/Warsaw).")
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(f"{name!r} is not an IANA time zone.") from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        zone: ZoneInfo = data["tz"]
        today = timezone.now().astimezone(zone).date()
        until: date = data.get("until") or today
        since: date | None = data.get("since")
        if data.get("range") == "all":
            since = first_opened_day(zone) or until
        elif since is None:
            since = until - timedelta(days=DEFAULT_DAYS - 1)
        if not (since >= _EARLIEST and until <= _LATEST):
            self.add_error("since" if since < _EARLIEST else "until", "This day is out of range.")
        elif since > until:
            self.add_error("since", "since is after until.")
        elif (until - since).days > MAX_DAYS:
            self.add_error("since", f"The range is longer than {MAX_DAYS} days.")
        data["since"], data["until"] = since, until
        return data

    def insights_filter(self) -> InsightsFilter:
        """The validated filter; call after ``is_valid()`` returned True."""
        data = self.cleaned_data
        return InsightsFilter(
            since=data["since"],
            until=data["until"],
            zone=data["tz"],
            period=data.get("period") or default_period(data["since"], data["until"]),
            adviser_id=data.get("adviser"),
            handling=data.get("handling") or None,
        )
