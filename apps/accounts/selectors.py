"""Reads about a reader's account, shared by the account page and the admin's 2FA rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator

from apps.accounts.models import User


def user_has_totp(*, user: User) -> bool:
    return Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()


@dataclass(frozen=True)
class AccountOverview:
    email: str
    email_verified: bool
    date_joined: datetime
    totp_active: bool
    recovery_codes_unused: int | None  # None: no recovery codes set up


def account_overview(*, user: User) -> AccountOverview:
    """What the account page shows about ``user`` (the plans feature adds its own fields)."""
    authenticators = {a.type: a for a in Authenticator.objects.filter(user=user)}
    recovery = authenticators.get(Authenticator.Type.RECOVERY_CODES)
    return AccountOverview(
        email=user.email,
        email_verified=EmailAddress.objects.filter(user=user, email__iexact=user.email, verified=True).exists(),
        date_joined=user.date_joined,
        totp_active=Authenticator.Type.TOTP in authenticators,
        recovery_codes_unused=len(recovery.wrap().get_unused_codes()) if recovery else None,
    )
