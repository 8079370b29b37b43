from django.urls import path

from . import views

app_name = "tokens"

urlpatterns = [
    path("", views.home, name="home"),
    path("tokens/", views.screener, name="screener"),
    path("tokens/<slug:slug>/", views.token_detail, name="detail"),
    path("tokens/<slug:slug>/charts/", views.token_charts, name="charts"),
    path("tokens/<slug:slug>/events/", views.token_events, name="events"),
    path("tokens/<slug:slug>/reports/", views.token_reports, name="reports"),
]
