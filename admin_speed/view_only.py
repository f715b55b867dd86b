"""Admin pages that only show rows: nobody adds, changes or deletes them here.

Mixed into a ``ModelAdmin`` or an inline before it (``class X(ViewOnly,
admin.ModelAdmin)``). Each admin still says who may *view*; superusers
included, no one gets the add, change or delete buttons.
"""

from typing import Any

from django.http import HttpRequest


class ViewOnly:
    # ``obj`` is optional: ModelAdmin.has_add_permission takes none, an
    # inline's takes the parent object.
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
