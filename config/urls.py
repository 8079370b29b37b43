from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "Accrual editors"
admin.site.site_title = "Accrual admin"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("ratings/", include("apps.ratings.urls")),
    path("watchlists/", include("apps.watchlists.urls")),
    path("", include("apps.watchlists.alert_urls")),
    path("", include("apps.tokens.urls")),
]
