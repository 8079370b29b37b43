"""Number formatting filters: compact money, multiples, percentages; missing is "—", never 0."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.conf import settings
from django.template import Context, Template
from django.utils import timezone

from apps.tokens.templatetags.accrual_format import (
    SCREENER_FIGURES,
    change_class,
    figure,
    multiple,
    pct,
    screener_cells,
    signed_pct,
    source_label,
    usd,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("1234000000000"), "$1.23T"),
        (Decimal("1230000000"), "$1.23B"),
        (Decimal("45600000"), "$45.6M"),
        (Decimal("12300"), "$12.3K"),
        (Decimal("999"), "$999.00"),
        (Decimal("12.345"), "$12.35"),
        (Decimal("0.5"), "$0.500"),
        (Decimal("0.000123456"), "$0.000123"),
        (Decimal("0.00000004213"), "$0.0000000421"),
        (Decimal("-2500000"), "−$2.5M"),
        (Decimal("0"), "$0"),  # a real zero is shown; only a missing figure is "—"
        (1500000, "$1.5M"),
        (None, "—"),
        ("", "—"),
        ("nonsense", "—"),
    ],
)
def test_usd(value, expected):
    assert usd(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("97123.456"), "$97,123.46"),
        (Decimal("42.5"), "$42.50"),
        (Decimal("0.0054"), "$0.00540"),
        (Decimal("0.07"), "$0.07000"),
        (Decimal("0.000000421"), "$0.000000421"),
        (None, "—"),
    ],
)
def test_usd_price_style(value, expected):
    assert usd(value, "price") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Decimal("12.34"), "12.3×"),
        (Decimal("1234.4"), "1,234×"),
        (Decimal("1234.5"), "1,235×"),
        (Decimal("0.04"), "0.0×"),
        (None, "—"),
    ],
)
def test_multiple(value, expected):
    assert multiple(value) == expected


@pytest.mark.parametrize(
    ("value", "style", "expected"),
    [
        (Decimal("0.0523"), "", "5.2%"),
        (Decimal("0.0523"), "signed", "+5.2%"),
        (Decimal("-0.12"), "signed", "−12.0%"),
        (Decimal("-0.12"), "", "−12.0%"),
        (Decimal("12.5"), "signed", "+1,250.0%"),
        (Decimal("0"), "signed", "0.0%"),
        (Decimal("0.00001"), "signed", "0.0%"),
        (None, "", "—"),
        (None, "signed", "—"),
    ],
)
def test_pct(value, style, expected):
    assert pct(value, style) == expected


def test_change_class_and_signed_pct():
    assert change_class(Decimal("0.1")) == "up"
    assert change_class(Decimal("-0.1")) == "down"
    assert change_class(Decimal("0")) == ""
    assert change_class(None) == ""
    assert signed_pct(Decimal("0.1")) == '<span class="chg up">+10.0%</span>'
    assert signed_pct(None) == '<span class="chg ">—</span>'


def test_figure_picks_the_format_by_name():
    assert figure(Decimal("2"), "multiple") == "2.0×"
    assert figure(Decimal("0.02"), "pct") == "2.0%"
    assert figure(Decimal("3000"), "usd") == "$3.0K"
    assert figure(None, "signed") == '<span class="chg ">—</span>'


def test_source_label():
    assert source_label("coingecko") == "CoinGecko"
    assert source_label("defillama") == "DefiLlama"
    assert source_label("") == "—"
    assert source_label(None) == "—"


def test_missing_is_a_dash_in_templates_even_on_a_missing_object():
    template = Template(
        "{% load accrual_format %}{{ s.price_usd|usd }} {{ s.ps|multiple }} {{ s.holder_yield|pct }} "
        "{{ s.price_change_7d|pct:'signed' }}"
    )
    assert template.render(Context({"s": None})) == "— — — —"


def test_screener_cells_without_a_snapshot_are_dashes_without_a_title():
    html = screener_cells(None)
    cells = re.findall(r"<td([^>]*)>(.*?)</td>", html)
    assert len(cells) == 1 + len(SCREENER_FIGURES)
    assert all(attrs == ' class="num"' and re.sub(r"<[^>]+>", "", text) == "—" for attrs, text in cells)


def test_screener_cells_title_the_price_badge_it_when_stale_and_keep_the_column_order():
    as_of = timezone.now() - dt.timedelta(hours=settings.PRICE_FRESHNESS_HOURS + 1)
    figures = {field: None for field, _ in SCREENER_FIGURES}
    snapshot = SimpleNamespace(
        **figures | {"ps": Decimal("12.34"), "price_change_7d": Decimal("-0.05"), "fdv_usd": Decimal("45600000")},
        price_usd=Decimal("97123.456"),
        price_as_of=as_of,
        price_source="coingecko",
    )
    cells = re.findall(r"<td([^>]*)>(.*?)</td>", screener_cells(snapshot))
    title, price = cells[0]
    assert title == f' class="num" title="CoinGecko · as of {as_of:%Y-%m-%d %H:%M} UTC"'
    assert price.startswith('$97,123.46<span class="badge stale"')
    texts = dict(zip([field for field, _ in SCREENER_FIGURES], [text for _, text in cells[1:]], strict=True))
    assert texts["ps"] == "12.3×" and texts["fdv_usd"] == "$45.6M"
    assert texts["price_change_7d"] == '<span class="chg down">−5.0%</span>'
    assert texts["market_cap_usd"] == "—"
    fresh = SimpleNamespace(**vars(snapshot) | {"price_as_of": timezone.now(), "price_source": "sample"})
    assert "Stale" not in screener_cells(fresh)
