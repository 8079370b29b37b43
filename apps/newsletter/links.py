"""Signed links in newsletter emails. A confirmation link carries the subscription and its
current nonce, signed with a timestamp (expires after NEWSLETTER_CONFIRM_MAX_AGE); an
unsubscribe link carries the subscription only and never expires. Each has its own salt, so
neither works in the other's place."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.urls import reverse

from .models import Subscription

CONFIRM_SALT = "accrual.newsletter.confirm"
UNSUBSCRIBE_SALT = "accrual.newsletter.unsubscribe"


class LinkExpired(Exception):
    pass


class LinkInvalid(Exception):
    pass


def absolute(path: str) -> str:
    return f"{settings.SITE_URL.rstrip('/')}{path}"


def confirm_token(subscription: Subscription) -> str:
    return signing.dumps([subscription.pk, subscription.confirm_nonce], salt=CONFIRM_SALT)


def read_confirm_token(token: str) -> tuple[int, str]:
    """(subscription id, nonce); LinkExpired past its age, LinkInvalid if tampered or foreign."""
    try:
        value = signing.loads(token, salt=CONFIRM_SALT, max_age=settings.NEWSLETTER_CONFIRM_MAX_AGE)
    except signing.SignatureExpired:
        raise LinkExpired from None
    except signing.BadSignature:
        raise LinkInvalid from None
    if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], int) and isinstance(value[1], str)):
        raise LinkInvalid
    return value[0], value[1]


def unsubscribe_token(subscription: Subscription) -> str:
    return signing.Signer(salt=UNSUBSCRIBE_SALT).sign(str(subscription.pk))


def read_unsubscribe_token(token: str) -> int:
    try:
        value = signing.Signer(salt=UNSUBSCRIBE_SALT).unsign(token)
    except signing.BadSignature:
        raise LinkInvalid from None
    if not value.isdigit():
        raise LinkInvalid
    return int(value)


def confirm_url(subscription: Subscription) -> str:
    return absolute(reverse("newsletter:confirm", kwargs={"token": confirm_token(subscription)}))


def unsubscribe_url(subscription: Subscription) -> str:
    return absolute(reverse("newsletter:unsubscribe", kwargs={"token": unsubscribe_token(subscription)}))
