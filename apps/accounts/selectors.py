"""Reads about a reader's account: 2FA for the account page and the admin's rule, their plan and its use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allauth.account.models import EmailAddress
from allauth.mfa.models import Authenticator
from django.db.models import Count

from .models import Plan, User


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


def plan_for(user: User) -> Plan:
    """The reader's plan: the one staff assigned, else the default plan, else (no plans in the
    database) an unsaved plan with the Free limits, so a limit always applies."""
    if user.plan_id is not None:
        return user.plan
    default = Plan.objects.filter(is_default=True).first()
    return default if default is not None else Plan(name="Free", slug="free", is_default=True)


@dataclass(frozen=True)
class PlanUsage:
    plan: Plan
    watchlists_used: int
    largest_watchlist: int  # tokens in the reader's largest watchlist

    @property
    def watchlists_left(self) -> int:
        return max(self.plan.max_watchlists - self.watchlists_used, 0)


def usage_for(user: User) -> PlanUsage:
    """The plan and its use, for the account and watchlists pages (two queries at most)."""
    from apps.watchlists.models import Watchlist  # accounts does not depend on watchlists at import

    # One row a list, and a reader holds a few: their sizes are counted here in one query.
    sizes = list(Watchlist.objects.filter(user=user).annotate(size=Count("items")).values_list("size", flat=True))
    return PlanUsage(plan=plan_for(user), watchlists_used=len(sizes), largest_watchlist=max(sizes, default=0))
