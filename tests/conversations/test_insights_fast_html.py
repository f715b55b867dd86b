"""The charts' ``fast_html`` builds exactly what ``django.utils.html`` builds."""

from django.utils import html as django_html
from django.utils.functional import lazy
from django.utils.safestring import SafeString, mark_safe

from conversations.insights import fast_html

VALUES = [
    0,
    12.5,
    "plain",
    "<b>\"quoted\" & 'single'</b>",
    mark_safe("<i>already safe</i>"),
    lazy(lambda: "<lazy & text>", str)(),
    None,
]


def test_format_html_escapes_as_django_does():
    for value in VALUES:
        for other in VALUES:
            found = fast_html.format_html('<a href="{}">{x}</a>', value, x=other)
            assert found == django_html.format_html('<a href="{}">{x}</a>', value, x=other)
            assert isinstance(found, SafeString)


def test_format_html_join_escapes_as_django_does():
    rows = [(value, other) for value in VALUES for other in VALUES]
    for sep in ("", "<br>", mark_safe("<br>")):
        found = fast_html.format_html_join(sep, "<p>{}|{}</p>", rows)
        assert found == django_html.format_html_join(sep, "<p>{}|{}</p>", rows)
        named = [{"a": value} for value in VALUES]
        assert fast_html.format_html_join(sep, "{a}", named) == django_html.format_html_join(
            sep, "{a}", named
        )
