"""Newsletter: one subscription per address (with its consent record) and one delivery per
(issue, subscription), which makes a send idempotent and resumable."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class SubscriptionStatus(models.TextChoices):
    PENDING = "pending", "Pending confirmation"
    CONFIRMED = "confirmed", "Confirmed"
    UNSUBSCRIBED = "unsubscribed", "Unsubscribed"
    SUPPRESSED = "suppressed", "Suppressed (refused, bounced or complained)"


class Subscription(models.Model):
    email = models.EmailField(max_length=254, unique=True, help_text="Normalised: trimmed and lower-case.")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="subscriptions"
    )
    status = models.CharField(max_length=12, choices=SubscriptionStatus.choices, default=SubscriptionStatus.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)
    # The latest sign-up: where, from which address and browser.
    signed_up_at = models.DateTimeField()
    signup_ip = models.GenericIPAddressField(null=True, blank=True)
    signup_user_agent = models.CharField(max_length=300, blank=True)
    source = models.CharField(max_length=200, blank=True, help_text="The page the sign-up came from.")
    # Changes at every sign-up and is cleared on confirmation: a confirmation link works once.
    confirm_nonce = models.CharField(max_length=32, blank=True)
    # Consent: when, from which address and browser the reader confirmed.
    confirmed_at = models.DateTimeField(null=True, blank=True)
    confirm_ip = models.GenericIPAddressField(null=True, blank=True)
    confirm_user_agent = models.CharField(max_length=300, blank=True)
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Consecutive failed sends (reset by a success); at NEWSLETTER_SUPPRESS_AFTER the address is suppressed.
    failure_count = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    suppressed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["status"], name="newsletter_sub_status")]

    def __str__(self) -> str:
        return f"{self.email} ({self.status})"


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    CLAIMED = "claimed", "Claimed by a sender"
    SENDING = "sending", "Being sent"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    SKIPPED = "skipped", "Skipped"
    # Left "sending" by a worker that died: the server may have it, so it is not sent again.
    UNKNOWN = "unknown", "Unknown (review)"


class BounceKind(models.TextChoices):
    """What a bounce that came back by email (a DSN or a complaint) said about a delivery."""

    TRANSIENT = "transient", "Soft bounce (delayed or 4.x.x)"
    PERMANENT = "permanent", "Hard bounce (5.x.x)"
    COMPLAINT = "complaint", "Spam complaint"


class Delivery(models.Model):
    issue_key = models.CharField(max_length=100)
    subscription = models.ForeignKey(Subscription, on_delete=models.CASCADE, related_name="deliveries")
    status = models.CharField(max_length=8, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    claim = models.CharField(max_length=32, blank=True, help_text="The sender run holding the row.")
    claimed_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    message_id = models.CharField(max_length=200, blank=True)
    error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # A bounce that arrived later by email (apps/newsletter/bounces.py); the strongest one kept.
    bounce = models.CharField(max_length=9, choices=BounceKind.choices, blank=True)
    bounce_reason = models.CharField(max_length=300, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["issue_key", "subscription"], name="newsletter_delivery_once"),
        ]
        indexes = [models.Index(fields=["issue_key", "status"], name="newsletter_delivery_issue")]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.issue_key} → {self.subscription_id} ({self.status})"
