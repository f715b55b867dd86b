"""The parts of Django admin replaced for speed on tables of millions of rows.

- ``paginators``: page counts without ``COUNT(*)``; a search runs once per page.
- ``changelist``: ``LargeTableAdmin``, the ``ModelAdmin`` that uses them.
- ``rows``: changelist rows rendered once per column instead of once per cell.
- ``templatetags.admin_speed``: the result list, date hierarchy and sidebar cache key.
- ``templates/admin/base_site.html``: Django's, with the navigation sidebar cached.

Everything here reads only Django (its private parts included, kept here and
nowhere else); the project's apps build on it, never the other way round.
"""
