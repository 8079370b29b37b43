from django.urls import path

from . import views

app_name = "api"

urlpatterns = [
    path("me", views.MeView.as_view(), name="me"),
    path("me/usage", views.MeUsageView.as_view(), name="me-usage"),
]
