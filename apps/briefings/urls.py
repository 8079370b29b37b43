from django.urls import path

from . import views

app_name = "briefings"

urlpatterns = [
    path("", views.index, name="index"),
    path("feed/", views.feed, name="feed"),
    path("<str:day>/", views.detail, name="detail"),
]
