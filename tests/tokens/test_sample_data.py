"""The bundled sample data set: it loads through the provider parsers, and its public
figures are the real ones (PROVIDERS.md)."""

import datetime as dt
import json
from decimal import Decimal as D

import pytest
from django.db.models import Sum

from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import AccrualEvent, AccrualPolicy, RevenueDay, RevenueReport, Source, Token
from apps.tokens.providers.sample import DEFAULT_DATA_DIR


def test_catalogue_covers_the_categories_with_40_real_tokens():
    catalogue = json.loads((DEFAULT_DATA_DIR / "catalogue.json").read_text())
    tokens = catalogue["tokens"]
    assert len(tokens) >= 40
    categories = {t["category"] for t in tokens}
    assert {"perps-dex", "spot-dex", "lending", "launchpad", "layer-1", "layer-2", "liquid-staking", "depin",
            "robotics"} <= categories  # fmt: skip
    assert len({t["coingecko_id"] for t in tokens}) == len(tokens)


@pytest.mark.django_db
def test_bundled_sample_loads_with_its_public_figures():
    result = sample_data_load()
    assert result.tokens >= 40
    hype = Token.objects.select_related("latest_snapshot").get(slug="hyperliquid")
    shares = dict(AccrualPolicy.objects.filter(token=hype).values_list("since", "share_of_revenue"))
    assert shares[dt.date(2025, 8, 30)] == D("0.99")
    assert D("0.97") in shares.values()
    before = RevenueDay.objects.get(token=hype, date=dt.date(2025, 8, 1))
    after = RevenueDay.objects.get(token=hype, date=dt.date(2025, 9, 15))
    assert (before.holders_revenue_usd / before.fees_usd).quantize(D("0.01")) == D("0.97")
    assert (after.holders_revenue_usd / after.fees_usd).quantize(D("0.01")) == D("0.99")
    prices = list(hype.price_days.values_list("price_usd", flat=True))
    assert min(prices) < 13 and max(prices) > 55

    geod = Token.objects.select_related("latest_snapshot").get(slug="geodnet")
    burned = AccrualEvent.objects.filter(token=geod, kind="burn").aggregate(total=Sum("token_amount"))["total"]
    assert burned > 34_000_000
    assert geod.latest_snapshot.burned_share > D("0.03")
    arr = RevenueReport.objects.get(token=geod, period="arr", source=Source.SAMPLE)
    assert arr.revenue_usd == D("5500000") and arr.source_url
    assert "19,000" in geod.description

    # Every token with a price has a latest snapshot, and tokens without revenue show none.
    assert not Token.objects.filter(coingecko_id__isnull=False, latest_snapshot__isnull=True).exists()
    assert Token.objects.filter(defillama_slug__isnull=True, latest_snapshot__revenue_annualised__isnull=True).exists()
