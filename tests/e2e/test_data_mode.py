"""What every page says about the data set, in Chromium (issue 10).

GIVEN a database holding the sample data set, or one filled by live refreshes (from a
stand-in provider server on 127.0.0.1)
WHEN a reader opens the pages
THEN a sample database says on every page that its figures are generated for illustration,
not market data, with their as-of date; a live one shows no such banner but its as-of.
"""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from apps.tokens import history, refresh, services
from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import Source
from apps.tokens.providers.coingecko import CoinGeckoClient
from apps.tokens.providers.defillama import DefiLlamaClient
from apps.tokens.providers.sample import SampleProvider
from apps.tokens.selectors import data_status
from tests.tokens.sample_builder import AS_OF

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PAGES = ["/", "/tokens/", "/tokens/alpha/", "/ratings/"]


def test_a_sample_database_says_so_on_every_page(live_server, page, data_dir, console_errors):
    sample_data_load(provider=SampleProvider(data_dir))

    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        banner = page.get_by_role("note")
        expect(banner).to_have_text(
            "Sample data as of 2026-03-01 — figures generated for illustration, not market data."
        )
        expect(banner).to_be_visible()
        expect(page.locator(".site-footer .as-of")).to_contain_text("Data (sample) as of 2026-03-01")
    assert console_errors == []


def test_a_live_database_shows_no_sample_banner_but_its_as_of(live_server, page, data_dir, server):
    catalogue = SampleProvider(data_dir).catalogue()
    services.catalogue_upsert(catalogue=catalogue, source=Source.EDITOR, fetched_at=AS_OF)
    options = {"max_attempts": 1, "sleep": lambda seconds: None}
    coingecko = CoinGeckoClient(f"{server.url}/cg", None, **options)
    history.price_history_refresh(provider=coingecko)
    history.revenue_refresh(provider=DefiLlamaClient(f"{server.url}/llama", None, **options), backfill=True)
    assert refresh.market_refresh(provider=coingecko).run.rows_written
    as_of = data_status().as_of

    for path in PAGES:
        page.goto(f"{live_server.url}{path}")
        expect(page.locator("h1").first).to_be_visible()
        expect(page.get_by_role("note")).to_have_count(0)
        expect(page.get_by_text(re.compile("Sample data|generated for illustration"))).to_have_count(0)
        expect(page.locator(".site-footer .as-of")).to_have_text(f"Data as of {as_of:%Y-%m-%d %H:%M} UTC")
