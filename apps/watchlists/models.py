"""Readers' watchlists: named lists of tokens, one of them the default the star adds to.

An item keeps the price and grades its token had when added, so a list shows what changed
since.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse

from apps.ratings.models import Grade
from apps.tokens.models import Token, price_field

NAME_MAX_LENGTH = 80


class Watchlist(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlists")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name", "pk"]
        constraints = [
            models.UniqueConstraint("user", Lower("name"), name="watchlist_name_unique_per_user"),
            models.UniqueConstraint(fields=["user"], condition=Q(is_default=True), name="watchlist_one_default"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("watchlists:detail", kwargs={"pk": self.pk})


class WatchlistItem(models.Model):
    # Indexed by the (watchlist, token) unique constraint, which leads with it.
    watchlist = models.ForeignKey(Watchlist, on_delete=models.CASCADE, related_name="items", db_index=False)
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="watchlist_items")
    added_at = models.DateTimeField(auto_now_add=True)
    price_at_add = price_field()
    investor_grade_at_add = models.CharField(max_length=1, choices=Grade.choices, blank=True)
    trader_grade_at_add = models.CharField(max_length=1, choices=Grade.choices, blank=True)

    class Meta:
        ordering = ["watchlist", "added_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["watchlist", "token"], name="watchlist_item_unique")]

    def __str__(self) -> str:
        return f"{self.watchlist_id}: {self.token_id}"


# --- Alerts on fundamentals ------------------------------------------------------------


class AlertKind(models.TextChoices):
    INVESTOR_BAND = "investor_band", "Investor grade changes band"
    TRADER_BAND = "trader_band", "Trader grade changes band"
    SIGNAL_FLIP = "signal_flip", "Signal flips"
    REVENUE_WOW = "revenue_wow", "Annualised revenue moves week over week"
    HOLDERS_REVENUE_WOW = "holders_revenue_wow", "Holders revenue moves week over week"
    PS_CROSS = "ps_cross", "P/S crosses a threshold"
    PHR_CROSS = "phr_cross", "P/HR crosses a threshold"
    ACCRUAL_EVENT = "accrual_event", "A buyback or burn of at least $X"
    PRICE_MOVE = "price_move", "Price moves in 24 h"


# Kinds that need no threshold (the change itself is the event); the others need one > 0.
KINDS_WITHOUT_THRESHOLD = (AlertKind.INVESTOR_BAND, AlertKind.TRADER_BAND, AlertKind.SIGNAL_FLIP)
# Kinds whose threshold is a percentage (the others': a ratio or a USD amount).
PERCENT_KINDS = (AlertKind.REVENUE_WOW, AlertKind.HOLDERS_REVENUE_WOW, AlertKind.PRICE_MOVE)
# A buyback or burn has no direction: it happened.
KINDS_WITHOUT_DIRECTION = (AlertKind.ACCRUAL_EVENT,)


class AlertDirection(models.TextChoices):
    ANY = "any", "Either way"
    UP = "up", "Up (better grade, rising, crossing above)"
    DOWN = "down", "Down (worse grade, falling, crossing below)"


class AlertDelivery(models.TextChoices):
    IMMEDIATE = "immediate", "Email at once"
    DIGEST = "digest", "Email in a daily digest"
    IN_APP = "in_app", "Notifications list only"


class AlertRule(models.Model):
    """A reader's rule on one token or on every token of one of their watchlists."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="alert_rules")
    token = models.ForeignKey(Token, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules")
    watchlist = models.ForeignKey(
        Watchlist, null=True, blank=True, on_delete=models.CASCADE, related_name="alert_rules"
    )
    kind = models.CharField(max_length=24, choices=AlertKind.choices)
    threshold = models.DecimalField(max_digits=26, decimal_places=4, null=True, blank=True)
    direction = models.CharField(max_length=8, choices=AlertDirection.choices, default=AlertDirection.ANY)
    delivery = models.CharField(max_length=16, choices=AlertDelivery.choices, default=AlertDelivery.IN_APP)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(token__isnull=False, watchlist__isnull=True)
                | Q(token__isnull=True, watchlist__isnull=False),
                name="alert_rule_token_xor_watchlist",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=KINDS_WITHOUT_THRESHOLD, threshold__isnull=True)
                | (~Q(kind__in=KINDS_WITHOUT_THRESHOLD) & Q(threshold__gt=0)),
                name="alert_rule_threshold_per_kind",
            ),
        ]
        # The evaluation reads active rules of one kind across all readers.
        indexes = [models.Index(fields=["kind", "is_active"], name="alert_rule_kind_active")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.get_kind_display()} on {self.target_label}"

    @property
    def target_label(self) -> str:
        if self.token_id:
            return self.token.symbol.upper()
        return f"watchlist “{self.watchlist.name}”"

    @property
    def description(self) -> str:
        """The rule in words, as the rules page lists it."""
        kind = AlertKind(self.kind)
        words = {
            AlertKind.INVESTOR_BAND: "investor grade changes band",
            AlertKind.TRADER_BAND: "trader grade changes band",
            AlertKind.SIGNAL_FLIP: "signal flips",
            AlertKind.REVENUE_WOW: f"annualised revenue moves {self.threshold.normalize():f}%+ week over week"
            if self.threshold
            else "",
            AlertKind.HOLDERS_REVENUE_WOW: f"holders revenue moves {self.threshold.normalize():f}%+ week over week"
            if self.threshold
            else "",
            AlertKind.PS_CROSS: f"P/S crosses {self.threshold.normalize():f}" if self.threshold else "",
            AlertKind.PHR_CROSS: f"P/HR crosses {self.threshold.normalize():f}" if self.threshold else "",
            AlertKind.ACCRUAL_EVENT: f"buyback or burn of ${self.threshold.normalize():,f} or more"
            if self.threshold
            else "",
            AlertKind.PRICE_MOVE: f"price moves {self.threshold.normalize():f}%+ in 24 h" if self.threshold else "",
        }[kind]
        if kind not in KINDS_WITHOUT_DIRECTION and self.direction != AlertDirection.ANY:
            words += f" ({self.direction})"
        return words


class Notification(models.Model):
    """One firing of a rule for one event. ``event_key`` is derived from the event alone, so
    the (rule, event_key) constraint makes a second evaluation of the same day add nothing.
    ``delivery`` is the rule's at the time it fired; ``emailed_at`` is set when an email
    worker claims the row (a conditional update), so two workers never send it twice."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    # Kept when the rule is deleted: the reader's history stays.
    rule = models.ForeignKey(AlertRule, null=True, blank=True, on_delete=models.SET_NULL, related_name="notifications")
    event_key = models.CharField(max_length=200)
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="+")
    message = models.CharField(max_length=300)
    data = models.JSONField(default=dict, blank=True)
    delivery = models.CharField(max_length=16, choices=AlertDelivery.choices, default=AlertDelivery.IN_APP)
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    emailed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["user", "-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["rule", "event_key"], name="notification_once_per_event")]
        indexes = [
            models.Index(fields=["user", "read_at"], name="notification_user_unread"),
            # The email tasks look for unsent rows of one delivery.
            models.Index(
                fields=["delivery"], condition=Q(emailed_at__isnull=True), name="notification_unsent_delivery"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.message}"


# --- Webhooks ----------------------------------------------------------------------------


class Webhook(models.Model):
    """A Pro reader's HTTPS endpoint that receives their notifications as signed JSON posts.

    During a rotation's grace period ``previous_secret`` stays valid: each post carries a
    signature with both secrets, so a receiver can switch at its own pace. ``is_active`` is
    False while the endpoint is paused (``paused_at``: when repeated failure paused it)."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=500)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    # Failed attempts since the last success, across deliveries; a success resets it.
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["user", "created_at", "pk"]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.url}"

    def get_absolute_url(self) -> str:
        return reverse("webhooks:detail", kwargs={"pk": self.pk})


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    DELIVERED = "delivered", "Delivered"
    FAILED = "failed", "Failed"


class WebhookDelivery(models.Model):
    """One event for one webhook: a notification (once per webhook, by the constraint) or a
    test. A sender claims a due row by moving ``next_attempt_at`` forward with a conditional
    update, so two workers never post the same attempt."""

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    # Null for a test delivery. Goes with its notification (which goes with its token), so
    # clearing the data set (TRUNCATE of the token tables) takes the alert deliveries too.
    notification = models.ForeignKey(
        Notification, null=True, blank=True, on_delete=models.CASCADE, related_name="webhook_deliveries"
    )
    event = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=12, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["webhook", "-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(fields=["webhook", "notification"], name="webhook_delivery_once_per_notification")
        ]
        # The sender looks for pending rows that are due.
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="webhook_delivery_pending_due")
        ]

    def __str__(self) -> str:
        return f"{self.webhook_id}: {self.event} ({self.status})"
