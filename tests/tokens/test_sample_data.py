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
def test_bundled_sample_loads_with_its_public_figures(client):
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
    burned = AccrualEvent.objects.filter(token=geod, kind="buyback-burn").aggregate(total=Sum("token_amount"))["total"]
    assert burned > 34_000_000
    assert geod.latest_snapshot.burned_share > D("0.03")
    # Buy-and-burn programmes (bought from the market, then burned) have a buyback yield.
    for slug in ("geodnet", "pancakeswap", "gains-network"):
        snapshot = Token.objects.select_related("latest_snapshot").get(slug=slug).latest_snapshot
        assert snapshot.buybacks_30d > 0 and snapshot.buyback_yield > 0, slug
        assert not AccrualEvent.objects.filter(token__slug=slug, kind="burn").exists(), slug
    arr = RevenueReport.objects.get(token=geod, period="arr")
    assert arr.revenue_usd == D("5500000") and "geodnet.com" in arr.note
    assert (arr.source, arr.source_url) == (Source.SAMPLE, "")  # a sample record, citing no page
    assert "19,000" in geod.description

    # Every token with a price has a latest snapshot, and tokens without revenue show none.
    assert not Token.objects.filter(coingecko_id__isnull=False, latest_snapshot__isnull=True).exists()
    assert Token.objects.filter(defillama_slug__isnull=True, latest_snapshot__revenue_annualised__isnull=True).exists()

    # The sample's Top 10 lists: labelled sample, with a record over the sample's prices; a draft stays hidden.
    top_list = client.get("/top-lists/sample-top-10-revenue-sharers/")
    assert top_list.status_code == 200 and "Sample list" in top_list.content.decode()
    assert top_list.context["page"].record.list_return is not None and len(top_list.context["page"].past) == 2
    assert client.get("/top-lists/sample-liquid-staking-draft/").status_code == 404

    # Generated reports say so, and link to no outside page as if it were their source.
    html = client.get("/tokens/hyperliquid/").content.decode()
    assert ">Generated<" in html and ">Editor<" not in html and "defillama.com" not in html
    # No circulating supply above the total or max, so no market cap above the FDV (but for
    # the rounding of market caps to whole dollars) anywhere in the sample.
    for token in Token.objects.select_related("latest_snapshot"):
        assert token.circulating_supply <= min(s for s in (token.total_supply, token.max_supply) if s), token.slug
        snap = token.latest_snapshot
        if snap.market_cap_usd is not None and snap.fdv_usd is not None:
            assert snap.market_cap_usd - snap.fdv_usd < 1, token.slug


def test_no_bundled_report_cites_an_outside_page_as_its_source():
    catalogue = json.loads((DEFAULT_DATA_DIR / "catalogue.json").read_text())
    assert catalogue["reports"]
    assert [r["source_url"] for r in catalogue["reports"]] == [None] * len(catalogue["reports"])


def test_no_bundled_token_has_more_circulating_than_total_or_max_supply():
    markets = json.loads((DEFAULT_DATA_DIR / "coingecko" / "coins_markets.json").read_text())
    above = [
        row["id"]
        for row in markets
        if row["circulating_supply"] > min(s for s in (row["total_supply"], row["max_supply"]) if s is not None)
        or (row["fully_diluted_valuation"] is not None and row["market_cap"] > row["fully_diluted_valuation"])
    ]
    assert above == []
