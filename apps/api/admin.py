from django.contrib import admin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from .models import APIKey, KeyUsageDay

# The library's own key model (no owner) is unused: keys belong to readers.
if admin.site.is_registered(LibraryAPIKey):
    admin.site.unregister(LibraryAPIKey)


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    """Staff see and may revoke keys; readers create them (the plaintext is shown only to them)."""

    list_display = ["prefix", "name", "user", "scopes", "created", "last_used", "expiry_date", "revoked"]
    list_filter = ["revoked", "created"]
    list_select_related = ["user"]
    search_fields = ["prefix", "name", "user__email"]
    fields = ["prefix", "name", "user", "scopes", "created", "last_used", "expiry_date", "revoked"]
    readonly_fields = ["prefix", "name", "user", "scopes", "created", "last_used", "expiry_date"]

    def has_add_permission(self, request) -> bool:
        return False

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "revoked"] if obj is not None and obj.revoked else self.readonly_fields


@admin.register(KeyUsageDay)
class KeyUsageDayAdmin(admin.ModelAdmin):
    """Recorded requests per key and day (what a reader's usage page and /me/usage show), read only."""

    list_display = ["date", "key", "key__user", "requests"]
    list_filter = ["date"]
    list_select_related = ["key__user"]
    search_fields = ["key__prefix", "key__name", "key__user__email"]
    date_hierarchy = "date"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
