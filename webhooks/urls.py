from django.urls import path

from . import views

app_name = "webhooks"
urlpatterns = [
    path("closer/<str:token>/", views.receive_closer_webhook, name="closer"),
]
