"""Webhooks: Pro readers' endpoints that receive their notifications as signed JSON posts.

* URLs are https and must resolve to public addresses only (unless
  ``ACCRUAL_WEBHOOKS_ALLOW_PRIVATE``, on in development and tests). The check runs when a
  webhook is added and again right before every post, and the post connects to the very
  address that was checked (TLS still verifies the hostname), so a DNS answer that changes
  in between (rebinding) cannot aim a post at the internal network.
* Signature: ``Accrual-Signature: t=<unix>,v1=<hex>`` with
  ``hex = HMAC-SHA256(secret, f"{t}.{body}")``; during a rotation's grace period a second
  ``v1`` signed with the previous secret follows. ``Accrual-Delivery`` carries the delivery id.
* A sender claims a due delivery with a conditional update that moves ``next_attempt_at``
  a lease ahead and counts the attempt; a worker that dies mid-post leaves the row to be
  retried once the lease ends. 2xx is delivered; anything else is retried on BACKOFF.
* After a delivery has used all its attempts with no success on the endpoint in between,
  the endpoint is paused and its owner emailed once (the pause is a conditional update).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import secrets
import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import User
from apps.accounts.selectors import plan_for

from .models import Notification, Webhook, WebhookDelivery, WebhookDeliveryStatus
from .services import LimitReached, _limit_message, _lock_user

logger = logging.getLogger(__name__)

SIGNATURE_HEADER = "Accrual-Signature"
DELIVERY_HEADER = "Accrual-Delivery"
ROTATION_GRACE = dt.timedelta(hours=24)
# Connect and read limits for every post; redirects are never followed.
TIMEOUT = httpx.Timeout(10.0, connect=5.0)
# Waits after failed attempts 1..9 (10 attempts in all): 3 min doubling, capped at 8 h, so
# 3, 6, 12, 24, 48, 96, 192, 384, 480 minutes: the last attempt comes ~21 h after the first.
MAX_ATTEMPTS = 10
BACKOFF_BASE = dt.timedelta(minutes=3)
BACKOFF_CAP = dt.timedelta(hours=8)
JITTER = 0.1  # ±10 %, so deliveries that failed together do not retry together
# A claimed attempt is given this long before another worker may take the row again.
LEASE = dt.timedelta(minutes=2)
BATCH = 100  # deliveries a run posts at most (each post is bounded by TIMEOUT)
ENQUEUE_WINDOW = dt.timedelta(days=2)  # notifications older than this are not posted
ERROR_MAX = 300


class WebhookURLError(ValidationError):
    pass


# --- URL and address checks ----------------------------------------------------------


def _allow_private() -> bool:
    return bool(getattr(settings, "ACCRUAL_WEBHOOKS_ALLOW_PRIVATE", False))


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or not ip.is_global
    )


def clean_url(url: str) -> str:
    """The URL if its form is acceptable; WebhookURLError with the reason otherwise."""
    url = (url or "").strip()
    if not url:
        raise WebhookURLError("Give the webhook's URL.", code="required")
    if len(url) > 500:
        raise WebhookURLError("A webhook URL has at most 500 characters.", code="max_length")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        raise WebhookURLError("That is not a valid URL.", code="invalid") from None
    schemes = {"https", "http"} if _allow_private() else {"https"}
    if parts.scheme.lower() not in schemes:
        raise WebhookURLError("A webhook URL must start with https://.", code="scheme")
    if not parts.hostname:
        raise WebhookURLError("That URL has no host.", code="invalid")
    if parts.username or parts.password:
        raise WebhookURLError("A webhook URL cannot carry a user name or password.", code="userinfo")
    return url


def resolve_public(url: str) -> str | None:
    """The public address to connect to for ``url``; WebhookURLError if the host does not
    resolve or any of its addresses is not public. None when private addresses are allowed
    (the client then resolves as usual). Never connects."""
    if _allow_private():
        return None
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise WebhookURLError(f"The host {parts.hostname} could not be resolved.", code="dns") from None
    addresses = []
    for info in infos:
        try:
            addresses.append(ipaddress.ip_address(info[4][0].split("%")[0]))
        except ValueError:
            continue
    if not addresses:
        raise WebhookURLError(f"The host {parts.hostname} could not be resolved.", code="dns")
    # Any private answer refuses the host: a mixed answer is how rebinding is attempted.
    for ip in addresses:
        if not _public(ip):
            raise WebhookURLError(
                f"The host {parts.hostname} points at a private or reserved address ({ip}); "
                "webhooks go to public addresses only.",
                code="private",
            )
    return str(addresses[0])


# --- Webhooks --------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


@transaction.atomic
def webhook_create(*, user: User, url: str) -> Webhook:
    """A new endpoint for ``user``. WebhookURLError for a URL refused, LimitReached at the
    plan's limit (Free allows none)."""
    _lock_user(user)
    plan = plan_for(user)
    if Webhook.objects.filter(user=user).count() >= plan.max_webhooks:
        if plan.max_webhooks == 0:
            raise LimitReached(_limit_message(user, "no webhooks"))
        raise LimitReached(_limit_message(user, f"{plan.max_webhooks} webhook{'s' if plan.max_webhooks != 1 else ''}"))
    url = clean_url(url)
    resolve_public(url)
    return Webhook.objects.create(user=user, url=url, secret=new_secret())


def _lock_webhook(webhook: Webhook) -> None:
    """Locks the webhook's row; Webhook.DoesNotExist when it was deleted meanwhile (in another
    tab, say), so nothing is written for an endpoint that is gone."""
    if Webhook.objects.select_for_update().filter(pk=webhook.pk).values_list("pk", flat=True).first() is None:
        raise Webhook.DoesNotExist(f"Webhook {webhook.pk} was deleted")


def webhook_delete(*, webhook: Webhook) -> None:
    webhook.delete()  # one deleted meanwhile is simply gone, as asked


@transaction.atomic
def webhook_rotate_secret(*, webhook: Webhook) -> Webhook:
    """A new secret; the old one stays valid (and signed with) for ROTATION_GRACE. Raises
    Webhook.DoesNotExist when it was deleted meanwhile."""
    _lock_webhook(webhook)
    webhook.previous_secret = webhook.secret
    webhook.previous_secret_expires_at = timezone.now() + ROTATION_GRACE
    webhook.secret = new_secret()
    webhook.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return webhook


@transaction.atomic
def webhook_resume(*, webhook: Webhook) -> Webhook:
    """Reactivates a paused endpoint; its pending deliveries become due at once. Raises
    Webhook.DoesNotExist when it was deleted meanwhile."""
    _lock_webhook(webhook)
    webhook.is_active = True
    webhook.paused_at = None
    webhook.consecutive_failures = 0
    webhook.save(update_fields=["is_active", "paused_at", "consecutive_failures"])
    webhook.deliveries.filter(status=WebhookDeliveryStatus.PENDING).update(next_attempt_at=timezone.now())
    return webhook


@transaction.atomic
def webhook_send_test(*, webhook: Webhook) -> WebhookDelivery:
    """Queues a test event; the next sender run posts it. Raises Webhook.DoesNotExist when
    the webhook was deleted meanwhile."""
    _lock_webhook(webhook)
    now = timezone.now()
    payload = {
        "type": "webhook.test",
        "id": f"test_{secrets.token_hex(8)}",
        "created": now.isoformat(),
        "token": None,
        "message": "Test event from Accrual: your endpoint is reachable and verifies signatures.",
        "data": {},
    }
    return WebhookDelivery.objects.create(webhook=webhook, event="webhook.test", payload=payload, next_attempt_at=now)


def _payload(n: Notification) -> dict:
    return {
        "type": "alert.fired",
        "id": f"ntf_{n.pk}",
        "created": n.created_at.isoformat(),
        "token": {"slug": n.token.slug, "symbol": n.token.symbol},
        "message": n.message,
        "data": n.data,
    }


def webhooks_enqueue() -> int:
    """One pending delivery per (active webhook, recent notification of its owner since the
    webhook was added); a repeated run adds nothing. Returns the deliveries added."""
    now = timezone.now()
    added = 0
    for webhook in Webhook.objects.filter(is_active=True).only("pk", "user_id", "created_at"):
        since = max(webhook.created_at, now - ENQUEUE_WINDOW)
        fresh = (
            Notification.objects.filter(user_id=webhook.user_id, created_at__gte=since)
            .filter(~Exists(WebhookDelivery.objects.filter(webhook=webhook, notification=OuterRef("pk"))))
            .select_related("token")
            .order_by("created_at", "pk")
        )
        rows = [
            WebhookDelivery(
                webhook=webhook, notification=n, event="alert.fired", payload=_payload(n), next_attempt_at=now
            )
            for n in fresh
        ]
        # The (webhook, notification) constraint makes a concurrent run's rows a no-op.
        added += len(WebhookDelivery.objects.bulk_create(rows, ignore_conflicts=True))
    return added


# --- Signing and sending ---------------------------------------------------------------


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    message = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def signature_header(*, webhook: Webhook, timestamp: int, body: bytes, now: dt.datetime) -> str:
    parts = [f"t={timestamp}", f"v1={sign(secret=webhook.secret, timestamp=timestamp, body=body)}"]
    if webhook.previous_secret and webhook.previous_secret_expires_at and webhook.previous_secret_expires_at > now:
        parts.append(f"v1={sign(secret=webhook.previous_secret, timestamp=timestamp, body=body)}")
    return ",".join(parts)


def body_of(delivery: WebhookDelivery) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":"), sort_keys=True).encode()


def backoff(attempt: int) -> dt.timedelta:
    """The wait after failed attempt ``attempt`` (1-based), before jitter."""
    return min(BACKOFF_BASE * 2 ** (attempt - 1), BACKOFF_CAP)


@dataclass(frozen=True)
class PostResult:
    ok: bool
    status_code: int | None
    error: str


def _post(webhook: Webhook, delivery: WebhookDelivery, now: dt.datetime) -> PostResult:
    try:
        address = resolve_public(webhook.url)
    except WebhookURLError as exc:
        return PostResult(False, None, exc.messages[0])
    body = body_of(delivery)
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Accrual-Webhooks/1",
        SIGNATURE_HEADER: signature_header(webhook=webhook, timestamp=timestamp, body=body, now=now),
        DELIVERY_HEADER: str(delivery.pk),
    }
    url = httpx.URL(webhook.url)
    extensions = {}
    if address is not None:
        # Connect to the address just checked; the Host header and TLS name stay the host's.
        headers["Host"] = url.netloc.decode("ascii")
        if url.scheme == "https":
            extensions["sni_hostname"] = url.raw_host.decode("ascii")
        url = url.copy_with(host=address)
    try:
        with (
            httpx.Client(timeout=TIMEOUT, follow_redirects=False, trust_env=False) as client,
            # Streamed and closed unread: only the status matters, however large the body.
            client.stream("POST", url, content=body, headers=headers, extensions=extensions) as response,
        ):
            status = response.status_code
    except httpx.TimeoutException:
        return PostResult(False, None, "Timed out.")
    except httpx.HTTPError as exc:
        return PostResult(False, None, f"Could not connect: {type(exc).__name__}.")
    if 200 <= status < 300:
        return PostResult(True, status, "")
    return PostResult(False, status, f"HTTP {status}.")


def _claim(delivery: WebhookDelivery, now: dt.datetime) -> bool:
    """Takes the attempt if no other worker did: the row must still be pending, due and at
    the attempt count read."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status=WebhookDeliveryStatus.PENDING,
            attempts=delivery.attempts,
            next_attempt_at__lte=now,
            webhook__is_active=True,  # not if the endpoint was paused since the batch was read
        ).update(attempts=F("attempts") + 1, next_attempt_at=now + LEASE)
    )


def _pause(webhook: Webhook, now: dt.datetime) -> None:
    paused = Webhook.objects.filter(pk=webhook.pk, paused_at__isnull=True).update(is_active=False, paused_at=now)
    if not paused:
        return  # already paused: its owner has had the email
    base = getattr(settings, "SITE_URL", "").rstrip("/")
    link = f"{base}{reverse('webhooks:detail', kwargs={'pk': webhook.pk})}"
    body = (
        f"Your webhook {webhook.url} has been paused: its deliveries kept failing for about a day.\n\n"
        f"Fix the endpoint, then resume it here: {link}\n"
        "Pending deliveries are kept and sent when you resume.\n"
    )
    try:
        send_mail("Accrual: your webhook was paused", body, None, [webhook.user.email])
    except Exception:  # the pause stands; the email is best effort
        logger.exception("webhook pause email for webhook %s failed", webhook.pk)


def _attempt(delivery: WebhookDelivery, now: dt.datetime) -> bool:
    webhook = delivery.webhook
    result = _post(webhook, delivery, now)
    done = timezone.now()
    update = {"last_status_code": result.status_code, "last_error": result.error[:ERROR_MAX]}
    if result.ok:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDeliveryStatus.DELIVERED, delivered_at=done, next_attempt_at=None, **update
        )
        Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=0)
        return True
    attempts = delivery.attempts + 1
    Webhook.objects.filter(pk=webhook.pk).update(consecutive_failures=F("consecutive_failures") + 1)
    if attempts >= MAX_ATTEMPTS:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDeliveryStatus.FAILED, next_attempt_at=None, **update
        )
        failures = Webhook.objects.filter(pk=webhook.pk).values_list("consecutive_failures", flat=True).first()
        # Paused only if nothing got through while this delivery was failing (None: deleted meanwhile).
        if failures is not None and failures >= MAX_ATTEMPTS:
            _pause(webhook, done)
    else:
        wait = backoff(attempts).total_seconds() * random.uniform(1 - JITTER, 1 + JITTER)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=done + dt.timedelta(seconds=wait), **update
        )
    logger.info("webhook %s delivery %s attempt %s failed: %s", webhook.pk, delivery.pk, attempts, result.error)
    return False


def webhooks_send_due(*, now: dt.datetime | None = None) -> int:
    """Posts the due pending deliveries of active webhooks; returns how many were delivered."""
    now = now or timezone.now()
    due = list(
        WebhookDelivery.objects.filter(
            status=WebhookDeliveryStatus.PENDING, next_attempt_at__lte=now, webhook__is_active=True
        )
        .select_related("webhook__user")
        .order_by("next_attempt_at", "pk")[:BATCH]
    )
    delivered = 0
    for delivery in due:
        if _claim(delivery, now):
            delivered += _attempt(delivery, now)
    return delivered
