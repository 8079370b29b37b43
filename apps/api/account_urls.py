from django.urls import path

from . import account_views

app_name = "api_keys"

urlpatterns = [
    path("", account_views.key_list, name="list"),
    path("new/", account_views.create, name="create"),
    path("<str:prefix>/revoke/", account_views.revoke, name="revoke"),
]
