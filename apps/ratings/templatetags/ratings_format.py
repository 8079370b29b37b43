"""Formatting of scores, grades, signals and rating inputs. Missing is "—", never 0."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template
from django.utils.html import format_html

from apps.tokens.templatetags.accrual_format import MINUS, MISSING, multiple, pct, signed_pct, usd

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


@register.filter
def score(value) -> str:
    """A 0–100 score to one decimal: 62.5."""
    number = _decimal(value)
    return MISSING if number is None else f"{number:.1f}"


@register.filter
def score_delta(value) -> str:
    """A signed change of score: +3.2, −1.0, 0.0."""
    number = _decimal(value)
    if number is None:
        return MISSING
    if number > 0:
        return f"+{number:.1f}"
    if number < 0:
        return f"{MINUS}{abs(number):.1f}"
    return "0.0"


@register.filter
def delta_class(value) -> str:
    number = _decimal(value)
    if number is None or number == 0:
        return ""
    return "up" if number > 0 else "down"


@register.simple_tag
def grade_badge(letter: str, reason: str = "") -> str:
    """A grade's letter in a coloured badge; "NR" (not rated) with the reason as its title."""
    if letter:
        return format_html('<span class="grade grade-{}">{}</span>', letter.lower(), letter)
    return format_html('<span class="grade grade-nr" title="{}">NR</span>', reason or "Not rated")


@register.simple_tag
def signal_badge(signal: str) -> str:
    if not signal:
        return MISSING
    arrow = {"bullish": "▲", "bearish": "▼"}.get(signal, "●")
    return format_html(
        '<span class="signal signal-{}"><span aria-hidden="true">{}</span> {}</span>', signal, arrow, signal.title()
    )


@register.filter
def input_value(value, fmt: str) -> str:
    """A rating input shown by its format: usd, pct, signed, ratio, days."""
    number = _decimal(value)
    if number is None:
        return MISSING
    if fmt == "usd":
        return usd(number)
    if fmt == "pct":
        return pct(number)
    if fmt == "signed":
        return signed_pct(number)
    if fmt == "multiple":
        return multiple(number)
    if fmt == "days":
        return f"{number:,.0f} days"
    return f"{number:.2f}".replace("-", MINUS)


@register.filter
def percent_share(value) -> str:
    """A 0–1 share as a whole percentage: 0.625 → 63%."""
    number = _decimal(value)
    return MISSING if number is None else f"{number * 100:.0f}%"
