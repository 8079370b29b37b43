"""Number formatting filters: compact money, multiples, percentages; missing is "—", never 0."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.template import Context, Template

from apps.tokens.templatetags.accrual_format import change_class, figure, multiple, pct, signed_pct, source_label, usd


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
