"""Reads about a reader's API keys and their use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import User

from .models import APIKey
from .usage import usage_counts


def api_keys_for_user(*, user: User) -> QuerySet[APIKey]:
    return APIKey.objects.filter(user=user).order_by("revoked", "-created")


@dataclass(frozen=True)
class KeyUsage:
    prefix: str
    name: str
    requests: int


@dataclass(frozen=True)
class UsageDay:
    date: dt.date
    requests: int
    keys: tuple[KeyUsage, ...]


def api_usage_by_day(*, user: User, days: int = 30, today: dt.date | None = None) -> list[UsageDay]:
    """Requests per day (newest first) and per key, over the last ``days`` days (UTC): two
    queries (the recorded days, the keys' names) however many keys or days."""
    today = today or timezone.now().astimezone(dt.UTC).date()
    dates = [today - dt.timedelta(days=n) for n in range(days)]
    counts = usage_counts(user_id=user.pk, days=dates)
    names = dict(APIKey.objects.filter(user=user).values_list("prefix", "name"))
    result = []
    for date in dates:
        per_key = counts.get(date, {})
        keys = tuple(
            KeyUsage(prefix=prefix, name=names.get(prefix, ""), requests=n) for prefix, n in sorted(per_key.items())
        )
        result.append(UsageDay(date=date, requests=sum(per_key.values()), keys=keys))
    return result
