"""Sponsorship never reaches ratings: the same facts give the same ratings whether the
tokens are on sponsored lists and entries or not."""

from __future__ import annotations

from pathlib import Path

import pytest

from apps.editorial import services
from apps.editorial.models import ListEntry, TopList
from apps.ratings.models import LatestRating, Rating, RatingChange
from apps.ratings.services import ratings_recompute
from tests.ratings.builders import END, rated_universe

from .conftest import PUBLISHED_AT

pytestmark = pytest.mark.django_db


def rated() -> dict[str, tuple]:
    return {
        r.token.slug: (
            r.inputs,
            r.components,
            r.investor_score,
            r.investor_grade,
            r.trader_score,
            r.trader_grade,
            r.signal,
            r.fingerprint,
        )
        for r in Rating.objects.filter(date=END).select_related("token")
    }


def test_ratings_are_identical_with_and_without_sponsorship():
    tokens = rated_universe()
    ratings_recompute(day=END)
    without = rated()
    assert len(without) == 5

    top_list = TopList.objects.create(
        slug="paid", title="Paid", summary="S", criteria="C", sponsored=True, sponsor_name="Acme"
    )
    for rank, token in enumerate(tokens, start=1):
        ListEntry.objects.create(top_list=top_list, token=token, rank=rank, sponsored=True, sponsor_name="Acme")
    services.publish(top_list=top_list, editor=None, now=PUBLISHED_AT)
    for model in (RatingChange, LatestRating, Rating):
        model.objects.all().delete()
    ratings_recompute(day=END)

    assert rated() == without


def test_the_ratings_app_never_imports_the_editorial_app():
    ratings = Path(__file__).resolve().parents[2] / "apps" / "ratings"
    for source in ratings.rglob("*.py"):
        assert "editorial" not in source.read_text(), source
