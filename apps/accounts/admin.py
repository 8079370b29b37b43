from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from .models import Plan, User


@admin.register(Plan)
class PlanAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "is_default",
        "max_watchlists",
        "max_tokens_per_watchlist",
        "max_alert_rules",
        "max_webhooks",
        "api_requests_per_minute",
        "api_requests_per_month",
    ]
    prepopulated_fields = {"slug": ["name"]}
    fieldsets = (
        (None, {"fields": ("name", "slug", "is_default", "description", "how_to_upgrade")}),
        ("Limits", {"fields": ("max_watchlists", "max_tokens_per_watchlist", "max_alert_rules", "max_webhooks")}),
        ("API quotas", {"fields": ("api_requests_per_minute", "api_requests_per_month", "api_requests_per_day")}),
    )


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    ordering = ["email"]
    list_display = ["email", "display_name", "plan", "is_staff", "is_active", "date_joined"]
    list_filter = ["plan", "is_staff", "is_superuser", "is_active"]
    list_select_related = ["plan"]
    search_fields = ["email", "display_name"]
    fieldsets = (
        (None, {"fields": ("email", "password", "display_name")}),
        ("Plan", {"fields": ("plan",)}),
        ("Permissions", {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")}),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = ((None, {"classes": ("wide",), "fields": ("email", "password1", "password2")}),)
