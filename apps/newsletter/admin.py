"""Subscriptions and deliveries are records (consent, what was sent): read in the admin, changed
only by the reader's own links and the delivery engine."""

from django.contrib import admin

from .models import Delivery, Subscription


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Subscription)
class SubscriptionAdmin(ReadOnlyAdmin):
    list_display = ("email", "status", "source", "signed_up_at", "confirmed_at", "failure_count", "suppressed_at")
    list_filter = ("status",)  # "Suppressed" among them: refused, bounced or complained about
    search_fields = ("email",)
    exclude = ("confirm_nonce",)


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "issue_key",
        "subscription",
        "status",
        "attempts",
        "sent_at",
        "next_attempt_at",
        "error",
        "bounce",
        "bounce_reason",
    )
    list_filter = ("status", "bounce", "issue_key")
    list_select_related = ("subscription",)
    search_fields = ("subscription__email", "issue_key", "message_id")
