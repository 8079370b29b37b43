from django.contrib import admin

from .models import AlertRule, Notification, Watchlist, WatchlistItem


class WatchlistItemInline(admin.TabularInline):
    model = WatchlistItem
    extra = 0
    raw_id_fields = ["token"]
    readonly_fields = ["added_at"]


@admin.register(Watchlist)
class WatchlistAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "is_default", "created_at"]
    list_select_related = ["user"]
    search_fields = ["name", "user__email"]
    raw_id_fields = ["user"]
    inlines = [WatchlistItemInline]


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ("user", "kind", "token", "watchlist", "threshold", "direction", "delivery", "is_active")
    list_filter = ("kind", "delivery", "is_active")
    raw_id_fields = ("user", "token", "watchlist")


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("user", "message", "created_at", "read_at", "emailed_at")
    list_filter = ("delivery",)
    raw_id_fields = ("user", "rule", "token")
