"""Fixtures for briefings: a day of factory data with known movers, grade changes, signal
flips, buybacks and burns and Top 10 revisions."""

from __future__ import annotations

import datetime as dt
import importlib
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection

from apps.editorial import services as editorial
from apps.editorial.models import ListEntry, TopList
from apps.ratings.models import Rating, RatingChange
from apps.ratings.selectors import VERSION
from apps.tokens.models import AccrualEvent, Token
from tests.factories import AccrualEventFactory, MetricSnapshotFactory, TokenFactory

DAY = dt.date(2026, 11, 20)
WEEK_BEFORE = DAY - dt.timedelta(days=7)
COMPUTED = dt.datetime(2026, 11, 20, 2, 30, tzinfo=dt.UTC)


def token_with_revenue(
    slug: str, *, now: str | None, before: str | None, holders_now: str | None = None, holders_before: str | None = None
) -> Token:
    """A token with its 30-day revenue on DAY and a week before."""
    token = TokenFactory(slug=slug, symbol=slug[:4], name=slug.title())
    MetricSnapshotFactory(
        token=token,
        date=WEEK_BEFORE,
        revenue_30d=Decimal(before) if before else None,
        holders_revenue_30d=Decimal(holders_before) if holders_before else None,
        latest=False,
    )
    MetricSnapshotFactory(
        token=token,
        date=DAY,
        revenue_30d=Decimal(now) if now else None,
        holders_revenue_30d=Decimal(holders_now) if holders_now else None,
    )
    return token


def rate(token: Token, day: dt.date = DAY) -> Rating:
    return Rating.objects.create(
        token=token, date=day, methodology_version=VERSION, fingerprint="f", computed_at=COMPUTED
    )


def grade_change(token: Token, subject: str, before: str, after: str, scores: tuple[str, str], day=DAY) -> None:
    detail = {"before_score": scores[0], "after_score": scores[1], "components": {}}
    common = {"token": token, "date": day, "methodology_version": VERSION, "subject": subject, "created_at": COMPUTED}
    if before != after:
        RatingChange.objects.create(kind="band_change", before=before, after=after, detail=detail, **common)
    RatingChange.objects.create(kind="score_move", before=scores[0], after=scores[1], detail=detail, **common)


def flip(token: Token, before: str, after: str, day=DAY) -> None:
    RatingChange.objects.create(
        token=token,
        date=day,
        methodology_version=VERSION,
        kind="signal_flip",
        subject="signal",
        before=before,
        after=after,
        detail={"trader_score": "61.0"},
        created_at=COMPUTED,
    )


def publish(tokens: list[Token], *, slug: str, at: dt.datetime) -> TopList:
    top_list = TopList.objects.create(slug=slug, title=f"Top {slug}", summary="s", criteria="c")
    for rank, token in enumerate(tokens, start=1):
        ListEntry.objects.create(top_list=top_list, token=token, rank=rank)
    editorial.publish(top_list=top_list, editor=None, now=at)
    return top_list


def revise(top_list: TopList, tokens: list[Token], *, at: dt.datetime, note: str = "Changed.") -> None:
    ListEntry.objects.filter(top_list=top_list).delete()
    for rank, token in enumerate(tokens, start=1):
        ListEntry.objects.create(top_list=top_list, token=token, rank=rank)
    editorial.publish_revision(top_list=top_list, editor=None, note=note, now=at)


@pytest.fixture(autouse=True)
def _site_url(settings):
    """The site's address for links in emails (the newsletter's settings define it)."""
    settings.SITE_URL = "http://127.0.0.1:8000"


@pytest.fixture
def day_data() -> SimpleNamespace:
    """GIVEN a day with: revenue up 50% (up), down 50% with holders revenue down 60% (down), a
    +400% move on a tiny base (tiny), a 3% move (flat), no earlier snapshot (new); grade
    changes and signal flips on the day, buybacks and burns on the day before (and around it), and a Top 10
    revision inside the day's window and one after it."""
    up = token_with_revenue("uptoken", now="15000000", before="10000000")
    down = token_with_revenue(
        "downtoken", now="5000000", before="10000000", holders_now="2000000", holders_before="5000000"
    )
    tiny = token_with_revenue("tinytoken", now="50000", before="10000")
    flat = token_with_revenue("flattoken", now="15000000", before="14500000")
    new = TokenFactory(slug="newtoken", symbol="NEW", name="Newtoken")
    MetricSnapshotFactory(token=new, date=DAY)
    for token in (up, down, tiny, flat, new):
        rate(token)

    grade_change(up, "investor", "B", "A", ("60.0", "75.5"))
    grade_change(down, "trader", "C", "D", ("50.0", "45.0"))
    grade_change(flat, "investor", "B", "B", ("62.0", "70.0"))  # a score move inside the band
    grade_change(tiny, "investor", "C", "B", ("40.0", "80.0"), day=DAY - dt.timedelta(days=1))  # yesterday's
    flip(down, "bullish", "bearish")
    flip(flat, "neutral", "bullish")

    events_day = DAY - dt.timedelta(days=1)  # the day before: the last complete one at the briefing time
    AccrualEventFactory(token=up, date=events_day, kind=AccrualEvent.Kind.BUYBACK, usd_amount=Decimal("500000"))
    AccrualEventFactory(token=down, date=events_day, kind=AccrualEvent.Kind.BURN, usd_amount=None)
    AccrualEventFactory(token=flat, date=events_day, kind=AccrualEvent.Kind.BUYBACK_BURN, usd_amount=Decimal("9e5"))
    AccrualEventFactory(token=up, date=events_day, kind=AccrualEvent.Kind.DISTRIBUTION, usd_amount=Decimal("9e6"))
    AccrualEventFactory(token=tiny, date=DAY, kind=AccrualEvent.Kind.BUYBACK)  # the next briefing's
    AccrualEventFactory(token=tiny, date=DAY - dt.timedelta(days=2), kind=AccrualEvent.Kind.BUYBACK)  # the last's

    at = dt.datetime.combine(DAY, dt.time(), tzinfo=dt.UTC)
    revised = publish([up, down, flat], slug="revised", at=at - dt.timedelta(days=20))
    revise(revised, [up, new, flat], at=at + dt.timedelta(hours=6), note="New joins; down leaves.")
    publish([tiny], slug="later", at=at + dt.timedelta(hours=8))  # after 07:00: tomorrow's briefing
    return SimpleNamespace(up=up, down=down, tiny=tiny, flat=flat, new=new, revised=revised)


@pytest.fixture
def editors_group() -> Group:
    """The group the data migrations made; made again when a transactional test flushed it."""
    if not Group.objects.filter(name="Editors").exists():
        importlib.import_module("apps.tokens.migrations.0002_editors_group").create_editors_group(
            apps, SimpleNamespace(connection=connection)
        )
    if not Group.objects.get(name="Editors").permissions.filter(content_type__app_label="briefings").exists():
        importlib.import_module("apps.briefings.migrations.0002_editors_permissions").grant_briefings(
            apps, SimpleNamespace(connection=connection)
        )
    return Group.objects.get(name="Editors")
