from django.contrib import admin
from django.urls import include, path

from apps.api.v1.docs import ApiDocsView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("apps.api.urls")),
    path("api/v1/", include("apps.api.v1.urls")),
    path("api/docs/", ApiDocsView.as_view(), name="api-docs"),
    path("account/api-keys/", include("apps.api.account_urls")),
    path("account/", include("apps.accounts.urls")),
    path("account/", include("allauth.urls")),
    path("ratings/", include("apps.ratings.urls")),
    path("watchlists/", include("apps.watchlists.urls")),
    path("top-lists/", include("apps.editorial.urls")),
    path("briefings/", include("apps.briefings.urls")),
    path("newsletter/", include("apps.newsletter.urls")),
    path("webhooks/", include("apps.watchlists.webhook_urls")),
    path("", include("apps.watchlists.alert_urls")),
    path("", include("apps.tokens.urls")),
]
