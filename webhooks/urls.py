from django.urls import path, re_path

from . import views

app_name = "webhooks"
urlpatterns = [
    path("closer/<str:token>/", views.receive_closer_webhook, name="closer"),
    # Without the slash too: APPEND_SLASH would answer a POST with a 301
    # (which clients follow as a GET), so that path is served as it is.
    re_path(r"^closer/(?P<token>[^/]+)$", views.receive_closer_webhook, name="closer-no-slash"),
]
