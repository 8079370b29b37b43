"""Number formatting for financial figures. Every filter shows a missing value as "—", never 0."""

from __future__ import annotations

import functools
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation, localcontext

from django import template
from django.http import QueryDict
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timezone import template_localtime

from apps.tokens.models import Source
from apps.tokens.selectors import is_stale

register = template.Library()

MISSING = "—"
MINUS = "−"  # a real minus sign lines up with the plus in tabular figures

_SCALES = (
    (Decimal("1e12"), "T", 2),
    (Decimal("1e9"), "B", 2),
    (Decimal("1e6"), "M", 1),
    (Decimal("1e3"), "K", 1),
)


def _decimal(value) -> Decimal | None:
    if isinstance(value, Decimal):  # as the database gives it: no round trip through a string
        return value if value.is_finite() else None
    if value is None or value == "":
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        return None
    return number if number.is_finite() else None


def _half_up(func):
    """Round halves up, as money is read (12.345 → 12.35), not to even. The text is marked
    safe: made of digits and fixed symbols, it has nothing to escape (and a page of figures
    then spends nothing escaping them)."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        with localcontext() as ctx:
            ctx.rounding = ROUND_HALF_UP
            return SafeString(func(*args, **kwargs))  # not mark_safe: it checks for lazy text each call

    return wrapper


def _significant(number: Decimal, digits: int = 3) -> str:
    """A small number with ``digits`` significant digits: 0.000123456 → 0.000123."""
    if number == 0:
        return "0.00"
    exponent = number.adjusted()  # 0.000123 → -4
    places = max(2, digits - 1 - exponent)
    return f"{number:.{places}f}"


@register.filter
@_half_up
def usd(value, style: str = "") -> str:
    """$1.23B, $45.6M, $12.3K, $12.34, $0.000123. ``usd:"price"`` spells prices out: $97,123.45."""
    number = _decimal(value)
    if number is None:
        return MISSING
    sign = MINUS if number < 0 else ""
    number = abs(number)
    if style == "price":
        if number >= 1:
            return f"{sign}${number:,.2f}"
        return f"{sign}${_significant(number, 4 if number >= Decimal('0.01') else 3)}"
    for threshold, suffix, places in _SCALES:
        if number >= threshold:
            return f"{sign}${number / threshold:,.{places}f}{suffix}"
    if number == 0:
        return "$0"
    if number >= 1:
        return f"{sign}${number:,.2f}"
    return f"{sign}${_significant(number)}"


@register.filter
@_half_up
def multiple(value) -> str:
    """A valuation multiple: 12.3×, 1,234×."""
    number = _decimal(value)
    if number is None:
        return MISSING
    if abs(number) >= 1000:
        return f"{number:,.0f}×"
    return f"{number:,.1f}×"


@register.filter
@_half_up
def pct(value, style: str = "") -> str:
    """A ratio as a percentage: 0.0523 → 5.2%. ``pct:"signed"`` adds + or − for changes."""
    number = _decimal(value)
    if number is None:
        return MISSING
    percent = number * 100
    text = f"{abs(percent):,.1f}%"
    if text == "0.0%":
        return text
    if percent < 0:
        return f"{MINUS}{text}"
    return f"+{text}" if style == "signed" else text


@register.filter
def change_class(value) -> str:
    """CSS class for a change: "up", "down" or "" (flat or missing)."""
    number = _decimal(value)
    if number is None or number == 0:
        return ""
    return "up" if number > 0 else "down"


@register.filter
def signed_pct(value) -> str:
    """A signed percentage in a span coloured by direction."""
    return SafeString(f'<span class="chg {change_class(value)}">{pct(value, "signed")}</span>')  # both safe


@register.filter
def figure(value, fmt: str) -> str:
    """Format by name, for tables that list mixed figures: usd, price, multiple, pct, signed."""
    if fmt == "usd":
        return usd(value)
    if fmt == "price":
        return usd(value, "price")
    if fmt == "multiple":
        return multiple(value)
    if fmt == "signed":
        return signed_pct(value)
    return pct(value)


# The screener's figures after the price, in the order of its columns (templates/tokens/screener.html):
# a MetricSnapshot field and its ``figure`` format.
SCREENER_FIGURES = (
    ("price_change_7d", "signed"),
    ("price_change_30d", "signed"),
    ("market_cap_usd", "usd"),
    ("revenue_annualised", "usd"),
    ("holders_revenue_annualised", "usd"),
    ("ps", "multiple"),
    ("phr", "multiple"),
    ("holder_yield", "pct"),
    ("revenue_growth_30d", "signed"),
    ("fees_annualised", "usd"),
    ("pf", "multiple"),
    ("buyback_yield", "pct"),
    ("revenue_growth_90d", "signed"),
    ("fdv_usd", "usd"),
    ("volume_usd", "usd"),
)


@register.simple_tag
def screener_cells(snapshot) -> str:
    """A screener row's figure cells from its latest snapshot (None: every figure "—"): the
    price, titled with its source and as-of and badged when stale, then ``SCREENER_FIGURES``.
    One tag, as 16 template variables on each of 50 rows were most of the page's time."""
    as_of = getattr(snapshot, "price_as_of", None)
    source = getattr(snapshot, "price_source", "")
    title = ""
    if as_of:
        # The date filter's "Y-m-d H:i" as strftime writes it, in a tenth of the time.
        as_of_text = template_localtime(as_of).strftime("%Y-%m-%d %H:%M")
        title = format_html(' title="{} · as of {} UTC"', source_label(source), as_of_text)
    price = usd(getattr(snapshot, "price_usd", None), "price")
    # Every part is safe already (formatted figures, the badge, the escaped title).
    cells = [f'<td class="num"{title}>{price}{stale_badge(as_of, "price", source)}</td>']
    for field, fmt in SCREENER_FIGURES:
        cells.append(f'<td class="num">{figure(getattr(snapshot, field, None), fmt)}</td>')
    return SafeString("\n        ".join(cells))


@register.filter
def source_label(value) -> str:
    """A source code as people read it: "coingecko" → "CoinGecko"."""
    if not value:
        return MISSING
    try:
        return Source(value).label
    except ValueError:
        return str(value)


@register.simple_tag(takes_context=True)
def sort_query(context, key: str, default_dir: str = "desc") -> str:
    """The query string for a sortable column header: keeps the filters, drops the page,
    flips the direction when the column is already the sort."""
    request = context["request"]
    params = QueryDict(mutable=True)
    for name, values in request.GET.lists():
        kept = [v for v in values if v != ""]
        if kept and name not in {"page", "sort", "dir"}:
            params.setlist(name, kept)
    direction = default_dir
    if context.get("sort") == key:
        direction = "asc" if context.get("direction") == "desc" else "desc"
    params["sort"] = key
    params["dir"] = direction
    return "?" + params.urlencode()


@register.simple_tag(takes_context=True)
def page_query(context, number: int) -> str:
    """The query string for another page of the same results."""
    request = context["request"]
    params = QueryDict(mutable=True)
    for name, values in request.GET.lists():
        kept = [v for v in values if v != ""]
        if kept and name != "page":
            params.setlist(name, kept)
    params["page"] = str(number)
    return "?" + params.urlencode()


@register.simple_tag
def stale_badge(as_of, kind: str, source: str = "") -> str:
    """A "Stale" badge when the last good figure is older than its freshness threshold."""
    if not is_stale(as_of, kind=kind, source=source):
        return ""
    return STALE_BADGE


STALE_BADGE = mark_safe('<span class="badge stale" title="Older than the freshness threshold">Stale</span>')


@register.simple_tag
def generated_badge() -> str:
    """The label of a record from the sample catalogue: made up to look plausible, cited by no one."""
    return GENERATED_BADGE


GENERATED_BADGE = mark_safe(
    '<span class="badge generated" title="Generated sample data: not a published figure">Generated</span>'
)
