"""The screener's filter form (GET): what readers type, turned into selector arguments."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from django import forms

from .models import Category, Chain
from .selectors import DEFAULT_DIRECTION, DEFAULT_SORT, SCREENER_SORTS, Range


@dataclass(frozen=True)
class RangeFilter:
    """One min/max pair on the form: ``scale`` turns what readers type into the stored unit."""

    key: str  # form field prefix: <key>_min, <key>_max
    field: str  # MetricSnapshot field
    label: str
    unit: str  # shown beside the inputs
    scale: Decimal  # stored value = typed value × scale


RANGE_FILTERS: tuple[RangeFilter, ...] = (
    # Market cap is typed in millions of USD; yields and growth in percent.
    RangeFilter("mcap", "market_cap_usd", "Market cap", "$M", Decimal("1000000")),
    RangeFilter("ps", "ps", "P/S", "×", Decimal(1)),
    RangeFilter("phr", "phr", "P/HR", "×", Decimal(1)),
    RangeFilter("yield", "holder_yield", "Holder yield", "%", Decimal("0.01")),
    RangeFilter("growth", "revenue_growth_30d", "Revenue growth 30d", "%", Decimal("0.01")),
)

SORT_CHOICES = [
    ("name", "Name"),
    ("symbol", "Symbol"),
    ("category", "Category"),
    ("price", "Price"),
    ("market_cap", "Market cap"),
    ("fdv", "FDV"),
    ("volume", "Volume 24h"),
    ("change_7d", "7d change"),
    ("change_30d", "30d change"),
    ("fees", "Fees (annualised)"),
    ("revenue", "Revenue (annualised)"),
    ("holders_revenue", "Holders revenue (annualised)"),
    ("pf", "P/F"),
    ("ps", "P/S"),
    ("phr", "P/HR"),
    ("holder_yield", "Holder yield"),
    ("buyback_yield", "Buyback yield"),
    ("growth_30d", "Revenue growth 30d"),
    ("growth_90d", "Revenue growth 90d"),
]
assert {key for key, _ in SORT_CHOICES} == set(SCREENER_SORTS)

TEXT_SORTS = frozenset({"name", "symbol", "category"})


def default_direction(sort: str) -> str:
    """Words read A→Z; figures read biggest first."""
    return "asc" if sort in TEXT_SORTS else DEFAULT_DIRECTION


# Bounds wide enough for any real figure (market caps up to 10^22 USD are stored) and
# small enough that a typed number never overflows a database column.
_MAX_DIGITS = 24
_DECIMAL_PLACES = 8


def _bound_field(label: str) -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=False,
        max_digits=_MAX_DIGITS,
        decimal_places=_DECIMAL_PLACES,
        widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}),
    )


class ScreenerForm(forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=100,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name or symbol", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
    category = forms.ChoiceField(label="Category", required=False, choices=[("", "All categories"), *Category.choices])
    chain = forms.ModelChoiceField(
        label="Chain", required=False, queryset=Chain.objects.all(), to_field_name="slug", empty_label="All chains"
    )
    sort = forms.ChoiceField(required=False, choices=SORT_CHOICES, widget=forms.HiddenInput)
    dir = forms.ChoiceField(
        required=False, choices=[("asc", "Ascending"), ("desc", "Descending")], widget=forms.HiddenInput
    )
    # Validated by the paginator in the view: a bad page is a 404, not a form error.
    page = forms.CharField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        for rf in RANGE_FILTERS:
            self.fields[f"{rf.key}_min"] = _bound_field(f"{rf.label} min ({rf.unit})")
            self.fields[f"{rf.key}_max"] = _bound_field(f"{rf.label} max ({rf.unit})")
        self.fields["chain"].label_from_instance = lambda chain: chain.name

    def range_rows(self) -> list[tuple[RangeFilter, forms.BoundField, forms.BoundField]]:
        return [(rf, self[f"{rf.key}_min"], self[f"{rf.key}_max"]) for rf in RANGE_FILTERS]

    def valid_value(self, name: str):
        """A field's cleaned value, or None when it is missing or invalid (the error is shown instead)."""
        if not hasattr(self, "cleaned_data"):
            self.is_valid()
        return self.cleaned_data.get(name) if name not in self.errors else None

    def selector_kwargs(self) -> dict:
        """Arguments for ``selectors.screener_tokens``: the valid fields only, invalid ones ignored."""
        ranges: dict[str, Range] = {}
        for rf in RANGE_FILTERS:
            low, high = self.valid_value(f"{rf.key}_min"), self.valid_value(f"{rf.key}_max")
            if low is not None or high is not None:
                ranges[rf.field] = (
                    low * rf.scale if low is not None else None,
                    high * rf.scale if high is not None else None,
                )
        chain = self.valid_value("chain")
        sort = self.valid_value("sort") or DEFAULT_SORT
        return {
            "q": self.valid_value("q") or "",
            "category": self.valid_value("category") or "",
            "chain": chain.slug if chain else "",
            "ranges": ranges,
            "sort": sort,
            "direction": self.valid_value("dir") or default_direction(sort),
        }

    def active_sort(self) -> tuple[str, str]:
        kwargs = self.selector_kwargs()
        return kwargs["sort"], kwargs["direction"]
