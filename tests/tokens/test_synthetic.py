import datetime as dt

import pytest
from django.core.management import call_command

from apps.tokens.models import MetricSnapshot, PriceDay, Token

pytestmark = pytest.mark.django_db


def test_synthetic_universe_is_generated_apart_and_deleted_cleanly():
    real = Token.objects.create(slug="hyperliquid", symbol="HYPE", name="Hyperliquid")
    call_command("generate_synthetic_universe", tokens=5, days=40, end=dt.date(2026, 1, 31))
    synthetic = Token.objects.filter(slug__startswith="synth-")
    assert synthetic.count() == 5
    assert PriceDay.objects.filter(token__in=synthetic).count() == 5 * 40
    assert MetricSnapshot.objects.filter(token__in=synthetic, date=dt.date(2026, 1, 31)).count() == 5
    assert all(t.latest_snapshot_id for t in synthetic)
    call_command("generate_synthetic_universe", delete=True)
    assert list(Token.objects.all()) == [real]


def test_synthetic_universe_is_deterministic():
    call_command("generate_synthetic_universe", tokens=3, days=10, end=dt.date(2026, 1, 31), seed=3)
    first = list(PriceDay.objects.order_by("token__slug", "date").values_list("price_usd", flat=True))
    call_command("generate_synthetic_universe", tokens=3, days=10, end=dt.date(2026, 1, 31), seed=3)
    assert list(PriceDay.objects.order_by("token__slug", "date").values_list("price_usd", flat=True)) == first
