"""Who may read the API, and how often.

A token is sent as ``Authorization: Token KEY`` or ``Authorization: Bearer
KEY`` (the same key). Anonymous requests get 401 (TokenAuthentication comes
first in the settings, so DRF answers with its ``WWW-Authenticate: Token``
challenge); an authenticated user without the model's view permission gets
403.
"""

from typing import TYPE_CHECKING, Any

from django.db.models import Model
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import TokenAuthentication
from rest_framework.permissions import DjangoModelPermissions
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import UserRateThrottle

if TYPE_CHECKING:  # rest_framework.views imports the permission settings
    from rest_framework.views import APIView

_VIEW = ["%(app_label)s.view_%(model_name)s"]


class BearerTokenAuthentication(TokenAuthentication):
    """DRF's token, under the keyword most HTTP clients send (``Bearer``)."""

    keyword = "Bearer"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """Documents ``BearerTokenAuthentication`` in the OpenAPI schema as HTTP
    bearer auth (drf-spectacular's own extension for TokenAuthentication
    would match the subclass and describe it as ``Token``)."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"
    priority = 1

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The same DRF token as tokenAuth: `Authorization: Bearer KEY`.",
        }


class ViewModelPermissions(DjangoModelPermissions):
    """Reading needs the ``view_<model>`` permission of the view's model.

    DRF's own map requires nothing for GET; the archive is personal data, so
    reading is a permission like any other. A view may name further models
    whose rows it reveals in ``also_reveals`` (the CSV export shows messages
    while filtering conversations).
    """

    perms_map = {
        **DjangoModelPermissions.perms_map,
        "GET": _VIEW,
        "HEAD": _VIEW,
        "OPTIONS": _VIEW,
    }

    def has_permission(self, request: Request, view: "APIView") -> bool:
        if not super().has_permission(request, view):
            return False
        extra: tuple[type[Model], ...] = getattr(view, "also_reveals", ())
        return request.user.has_perms(
            f"{model._meta.app_label}.view_{model._meta.model_name}" for model in extra
        )


class AuthenticatedUserThrottle(UserRateThrottle):
    """DRF's per-user throttle, reading its rate when a request comes in
    (``DEFAULT_THROTTLE_RATES["user"]``) rather than once at import, so a
    changed setting takes effect."""

    def get_rate(self) -> Any:
        return api_settings.DEFAULT_THROTTLE_RATES.get(self.scope or "user")
