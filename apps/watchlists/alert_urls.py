from django.urls import path

from . import alert_views as views

app_name = "alerts"

urlpatterns = [
    path("alerts/", views.rules, name="rules"),
    path("alerts/new/", views.rule_create, name="create"),
    path("alerts/<int:pk>/delete/", views.rule_delete, name="delete"),
    path("alerts/<int:pk>/toggle/", views.rule_toggle, name="toggle"),
    path("notifications/", views.notifications, name="notifications"),
    path("notifications/read-all/", views.notifications_read_all, name="read_all"),
    path("notifications/badge/", views.badge, name="badge"),
    path("notifications/<int:pk>/read/", views.notification_read, name="read"),
]
