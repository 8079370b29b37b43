"""Reads for the newsletter pages."""

from __future__ import annotations

from allauth.account.models import EmailAddress
from django.db.models import Q

from apps.accounts.models import User

from .models import Subscription


def subscription_for_user(user: User) -> Subscription | None:
    """The reader's subscription: linked to the account, or at the account's address."""
    return Subscription.objects.filter(Q(user=user) | Q(email=user.email.strip().lower())).order_by("-user_id").first()


def has_verified_address(user: User, email: str) -> bool:
    return EmailAddress.objects.filter(user=user, email__iexact=email, verified=True).exists()
