from django.urls import path

from . import views

app_name = "editorial"

urlpatterns = [
    path("", views.index, name="index"),
    path("<slug:slug>/", views.detail, name="detail"),
    path("<slug:slug>/feed/", views.revision_feed, name="feed"),
]
