from django.urls import path

from . import views

app_name = "ratings"

urlpatterns = [
    path("", views.leaderboard, name="leaderboard"),
    path("methodology/", views.methodology, name="methodology"),
    path("track-record/", views.track_record, name="track_record"),
    path("<slug:slug>/changes/", views.rating_changes, name="changes"),
    path("<slug:slug>/history/", views.rating_history, name="history"),
]
