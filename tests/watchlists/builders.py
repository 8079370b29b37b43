"""Tokens with snapshots and latest ratings, for watchlist tests."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from apps.ratings.methodology import METHODOLOGY
from apps.ratings.models import LatestRating, Rating
from tests.factories import MetricSnapshotFactory, TokenFactory

DAY = dt.date(2026, 11, 20)
NOW = dt.datetime(2026, 11, 20, 1, 0, tzinfo=dt.UTC)


def rate(token, *, investor: str = "C", trader: str = "C", day: dt.date = DAY) -> Rating:
    """Gives the token a latest rating with these grades (replacing its previous latest)."""
    rating, _ = Rating.objects.update_or_create(
        token=token,
        date=day,
        methodology_version=METHODOLOGY.version,
        defaults={
            "investor_grade": investor,
            "investor_score": Decimal("50.0"),
            "trader_grade": trader,
            "trader_score": Decimal("50.0"),
            "fingerprint": f"{token.pk}-{day}-{investor}{trader}",
            "computed_at": NOW,
        },
    )
    LatestRating.objects.update_or_create(
        token=token, methodology_version=METHODOLOGY.version, defaults={"rating": rating, "date": day}
    )
    return rating


def priced_token(slug: str, *, price="2.5", investor: str | None = "C", trader: str = "C", **snapshot):
    """A token with a latest snapshot (``snapshot`` overrides its figures) and, unless
    ``investor`` is None, a latest rating."""
    token = TokenFactory(slug=slug, symbol=slug[:5].upper(), name=slug.replace("-", " ").title())
    MetricSnapshotFactory(token=token, price_usd=Decimal(price), **snapshot)
    token.refresh_from_db()
    if investor is not None:
        rate(token, investor=investor, trader=trader)
    return token
