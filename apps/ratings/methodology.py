"""Ratings methodology v1, as data: inputs and their windows, components and their weights,
grades, letter bands, the signal's thresholds and how ranks are blended (``METHODOLOGY``).

``scoring`` applies it; ``/ratings/methodology/`` renders this same object, so the published
method cannot drift from the code that grades.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from functools import cached_property


@dataclass(frozen=True)
class InputDef:
    """A raw input, as stored with every rating. ``window_days`` of history end on the
    rating's day (never after it; revenue windows on the newest revenue day, see
    ``Methodology.revenue_max_lag_days``); with fewer than ``min_days`` days of data the
    input is missing. ``needs`` says in words what data the input needs, for the page."""

    key: str
    label: str
    # "snapshot" (the day's MetricSnapshot), "prices" or "revenue" (daily history), "burns"
    # (burn events to date, against the day's supply)
    source: str
    format: str  # how pages show it: usd, pct, signed, ratio, days
    description: str
    window_days: int = 0
    min_days: int = 0
    needs: str = ""


@dataclass(frozen=True)
class SubMetric:
    """One ranked measure. Its value is ``measure`` (divided by ``per`` when given)."""

    key: str
    label: str
    weight: int  # within its component
    measure: str
    per: str = ""
    higher_is_better: bool = True
    note: str = ""

    @property
    def inputs(self) -> tuple[str, ...]:
        return (self.measure, self.per) if self.per else (self.measure,)


@dataclass(frozen=True)
class Component:
    key: str
    label: str
    description: str
    submetrics: tuple[SubMetric, ...]


@dataclass(frozen=True)
class GradeDef:
    """A grade: the weighted mean of its components' scores, and a letter band."""

    key: str
    label: str
    description: str
    weights: tuple[tuple[str, int], ...]  # (component key, weight)
    required: tuple[str, ...]  # components without which there is no grade
    min_components: int
    min_revenue_history_days: int = 0  # below this: "Not rated", with the reason


@dataclass(frozen=True)
class Band:
    letter: str
    min_score: int
    meaning: str


@dataclass(frozen=True)
class SignalDef:
    """Bullish/neutral/bearish from one grade's score, with hysteresis: a signal is entered
    at one threshold and left only past another, so a score hovering near a line does not
    flip it every day. A gap in the ratings (no rating the day before) starts from neutral."""

    grade: str
    bullish_enter: int  # score ≥ this turns bullish
    bullish_exit: int  # a bullish signal holds while score ≥ this
    bearish_enter: int  # score ≤ this turns bearish
    bearish_exit: int  # a bearish signal holds while score ≤ this


@dataclass(frozen=True)
class Ranking:
    """Percentile ranks within the whole universe of the day and within the token's
    category, blended. A category with fewer than ``min_category_peers`` tokens having the
    figure gives no category rank: the universe rank alone counts. ``formula`` is the rank
    as published (``ranks`` computes it; a test evaluates this text against it)."""

    universe_weight: int
    category_weight: int
    min_category_peers: int
    formula: str = "100 × (worse + (tied − 1) ÷ 2) ÷ (n − 1)"
    lone_score: int = 50  # the rank of a value that is alone (n = 1)


@dataclass(frozen=True)
class Methodology:
    version: str
    published: str
    inputs: tuple[InputDef, ...]
    components: tuple[Component, ...]
    grades: tuple[GradeDef, ...]
    bands: tuple[Band, ...]
    signal: SignalDef
    ranking: Ranking
    score_move_points: int  # a day-over-day move this large is recorded as an event
    # Returns and trend compare average prices over this many days (the day and the ones
    # before), so one day's spike does not swing momentum, nor the signal with it.
    price_average_days: int
    price_average_min_days: int
    # Revenue windows end on the newest day with revenue data, at most this many days
    # before the rating's day (``apps.tokens.snapshots.REVENUE_MAX_LAG_DAYS``; a test holds them equal).
    revenue_max_lag_days: int
    # A revenue window counts when at least this share of its days have data
    # (``apps.tokens.metrics.MIN_WINDOW_COVERAGE``; a test holds them equal).
    revenue_window_coverage: Decimal
    # Inputs that are standard deviations: all sample standard deviations (÷ (n − 1)).
    stdev_inputs: tuple[str, ...]
    # Who is rated on a day: the universe of that day, as it was listed then.
    universe_rule: str
    notes: tuple[str, ...] = field(default_factory=tuple)
    changes: tuple[str, ...] = field(default_factory=tuple)  # from the previous version

    def input(self, key: str) -> InputDef:
        return self._inputs_by_key[key]

    def component(self, key: str) -> Component:
        return next(c for c in self.components if c.key == key)

    def grade(self, key: str) -> GradeDef:
        return next(g for g in self.grades if g.key == key)

    @property
    def band_ranges(self) -> list[tuple[Band, int | None]]:
        """Each band with the score where the band above starts (None for the top band)."""
        return [(band, self.bands[i - 1].min_score if i else None) for i, band in enumerate(self.bands)]

    @property
    def coverage_percent(self) -> int:
        return int(self.revenue_window_coverage * 100)

    @property
    def stdev_input_defs(self) -> list[InputDef]:
        return [self.input(key) for key in self.stdev_inputs]

    @cached_property
    def _inputs_by_key(self) -> dict[str, InputDef]:
        return {i.key: i for i in self.inputs}

    @cached_property
    def input_keys(self) -> tuple[str, ...]:
        return tuple(i.key for i in self.inputs)


METHODOLOGY = Methodology(
    version="1.1",
    published="2026-12-05",
    inputs=(
        InputDef(
            "market_cap_usd",
            "Market cap",
            "snapshot",
            "usd",
            "Circulating market cap at the day's close.",
            needs="A price that day.",
        ),
        InputDef(
            "revenue_annualised",
            "Revenue, annualised",
            "snapshot",
            "usd",
            "Last 30 days of revenue × 365/30.",
            window_days=30,
            min_days=27,
            needs="27 of the 30 days with revenue data.",
        ),
        InputDef(
            "holders_revenue_annualised",
            "Holders revenue, annualised",
            "snapshot",
            "usd",
            "Last 30 days of revenue reaching holders × 365/30.",
            window_days=30,
            min_days=27,
            needs="27 of the 30 days with holders revenue data.",
        ),
        InputDef(
            "revenue_growth_30d",
            "Revenue growth 30d",
            "snapshot",
            "signed",
            "Revenue of the last 30 days against the 30 before: (last − before) ÷ before.",
            window_days=60,
            min_days=57,
            needs="Both 30-day windows with 27 days of revenue data each (57 days at least), "
            "and revenue above 0 in the earlier one.",
        ),
        InputDef(
            "revenue_growth_90d",
            "Revenue growth 90d",
            "snapshot",
            "signed",
            "Revenue of the last 90 days against the 90 before: (last − before) ÷ before.",
            window_days=180,
            min_days=171,
            needs="Both 90-day windows with 81 days of revenue data each (171 days at least), "
            "and revenue above 0 in the earlier one.",
        ),
        InputDef(
            "revenue_consistency_90d",
            "Revenue consistency",
            "revenue",
            "ratio",
            "1 − coefficient of variation (sample standard deviation ÷ mean) of daily revenue over the last "
            "90 days of revenue data; 1 is perfectly steady, below 0 very lumpy.",
            window_days=90,
            min_days=81,
            needs="81 of the 90 days with revenue data, and a mean above 0.",
        ),
        InputDef(
            "revenue_history_days",
            "Revenue history",
            "revenue",
            "days",
            "Days from the first day with revenue data to the rating's day, both counted.",
            needs="One day with revenue data.",
        ),
        InputDef(
            "holders_share",
            "Holders' share",
            "snapshot",
            "pct",
            "Share of the last 30 days' revenue that reached holders: holders revenue ÷ revenue.",
            window_days=30,
            min_days=27,
            needs="27 of the 30 days with revenue and holders revenue data, and revenue above 0.",
        ),
        InputDef(
            "holder_yield",
            "Holder yield",
            "snapshot",
            "pct",
            "Annualised holders revenue ÷ market cap.",
            window_days=30,
            min_days=27,
            needs="Holders revenue, annualised, and market cap.",
        ),
        InputDef(
            "buyback_yield",
            "Buyback yield",
            "snapshot",
            "pct",
            "USD value of tokens bought from the market in the last 30 days (held or burned; fee burns are "
            "not buybacks), annualised, ÷ market cap; missing when no buyback was ever recorded.",
            window_days=30,
            needs="A buyback recorded on or before the day (days without one count as 0), and market cap.",
        ),
        InputDef(
            "burned_share",
            "Burned share",
            "burns",
            "pct",
            "Tokens burned up to the day as a share of supply as of the day: burned ÷ max supply, or, for a "
            "token without one, burned ÷ (circulating supply that day + burned), circulating supply being "
            "that day's market cap ÷ price; missing when no burn was recorded by then.",
            needs="A burn recorded on or before the day, and a price and market cap that day (or a max supply).",
        ),
        InputDef(
            "supply_growth_90d",
            "Supply growth 90d",
            "prices",
            "signed",
            "Change of circulating supply (market cap ÷ price) over 90 days: positive is dilution "
            "(emissions, unlocks), negative is net burning.",
            window_days=90,
            needs="A price and market cap on the day and on the day 90 days before.",
        ),
        InputDef(
            "return_30d",
            "Return 30d",
            "prices",
            "signed",
            "Change of the 7-day average price over 30 days: the average of the day and the 6 before, "
            "against the same average 30 days earlier. Not the same as the 30-day price change (close "
            "against close) shown with the market figures.",
            window_days=30,
            needs="5 prices in each 7-day average: the one ending on the day and the one ending 30 days before.",
        ),
        InputDef(
            "return_90d",
            "Return 90d",
            "prices",
            "signed",
            "Change of the 7-day average price over 90 days (as Return 30d, 90 days apart).",
            window_days=90,
            needs="5 prices in each 7-day average: the one ending on the day and the one ending 90 days before.",
        ),
        InputDef(
            "trend_50d",
            "Trend",
            "prices",
            "signed",
            "The 7-day average price against the 50-day average.",
            window_days=50,
            min_days=45,
            needs="45 of the 50 days with a price, and 5 of the last 7.",
        ),
        InputDef(
            "volatility_90d",
            "Volatility",
            "prices",
            "pct",
            "Sample standard deviation of daily returns (price ÷ the day before's price − 1) over 90 days.",
            window_days=90,
            min_days=81,
            needs="81 daily returns in the 90 days (a return needs a price on the day and the day before).",
        ),
        InputDef(
            "max_drawdown_180d",
            "Max drawdown",
            "prices",
            "signed",
            "Largest fall from a running peak over 180 days (−0.40 is a 40 % fall).",
            window_days=180,
            min_days=162,
            needs="162 of the 180 days with a price.",
        ),
        InputDef(
            "liquidity_30d",
            "Liquidity",
            "prices",
            "pct",
            "Mean daily volume over 30 days ÷ market cap.",
            window_days=30,
            min_days=27,
            needs="27 of the 30 days with a volume, and market cap.",
        ),
    ),
    components=(
        Component(
            "revenue",
            "Revenue",
            "How much the protocol earns, how fast that grows, and how steadily it comes in.",
            (
                SubMetric(
                    "scale",
                    "Scale",
                    40,
                    "revenue_annualised",
                    note="Revenue of 0 (or less) ranks at the bottom; no revenue data leaves it out.",
                ),
                SubMetric("growth_30d", "Growth 30d", 20, "revenue_growth_30d"),
                SubMetric("growth_90d", "Growth 90d", 20, "revenue_growth_90d"),
                SubMetric("consistency", "Consistency", 20, "revenue_consistency_90d"),
            ),
        ),
        Component(
            "value_accrual",
            "Value accrual",
            "How much of that revenue reaches token holders, and whether buybacks and burns outpace new supply.",
            (
                SubMetric("holders_share", "Holders' share", 25, "holders_share"),
                SubMetric(
                    "holder_yield",
                    "Holder yield",
                    25,
                    "holders_revenue_annualised",
                    per="market_cap_usd",
                    note="Ranked as holders revenue ÷ market cap, so holders revenue of 0 (or less), whose "
                    "holder yield shows “—”, ranks at the bottom; no data leaves it out.",
                ),
                SubMetric("buyback_yield", "Buyback yield", 20, "buyback_yield"),
                SubMetric("burned_share", "Burned share", 10, "burned_share"),
                SubMetric(
                    "dilution",
                    "Dilution",
                    20,
                    "supply_growth_90d",
                    higher_is_better=False,
                    note="Supply growth over 90 days; less is better, and net burning best.",
                ),
            ),
        ),
        Component(
            "valuation",
            "Valuation",
            "What the market charges for that revenue: lower multiples score higher.",
            (
                SubMetric(
                    "ps",
                    "P/S",
                    60,
                    "revenue_annualised",
                    per="market_cap_usd",
                    note="Lower is better: ranked by its inverse, revenue ÷ market cap. Revenue of 0 "
                    "(or less) ranks at the bottom; a token without revenue data (or without market cap) "
                    "has no P/S and is left out of this sub-metric.",
                ),
                SubMetric(
                    "phr",
                    "P/HR",
                    40,
                    "holders_revenue_annualised",
                    per="market_cap_usd",
                    note="Ranked by its inverse, holders revenue ÷ market cap (the holder yield): 0 ranks "
                    "at the bottom, no data leaves it out.",
                ),
            ),
        ),
        Component(
            "momentum",
            "Momentum",
            "Where the price has been going.",
            (
                SubMetric("return_30d", "Return 30d", 35, "return_30d"),
                SubMetric("return_90d", "Return 90d", 35, "return_90d"),
                SubMetric("trend", "Trend", 30, "trend_50d"),
            ),
        ),
        Component(
            "risk",
            "Risk",
            "How rough the ride is: lower risk scores higher.",
            (
                SubMetric("volatility", "Volatility", 40, "volatility_90d", higher_is_better=False),
                SubMetric(
                    "drawdown",
                    "Drawdown",
                    30,
                    "max_drawdown_180d",
                    note="Drawdowns are ≤ 0: a smaller fall is a higher value, and scores higher.",
                ),
                SubMetric("liquidity", "Liquidity", 30, "liquidity_30d"),
            ),
        ),
    ),
    grades=(
        GradeDef(
            "investor",
            "Investor grade",
            "Fundamentals: what the protocol earns, what reaches holders, what it costs, how risky it is.",
            weights=(("revenue", 30), ("value_accrual", 25), ("valuation", 25), ("risk", 20)),
            required=("revenue",),
            min_components=3,
            min_revenue_history_days=90,
        ),
        GradeDef(
            "trader",
            "Trader grade",
            "Price behaviour: momentum, tempered by risk.",
            weights=(("momentum", 60), ("risk", 40)),
            required=("momentum", "risk"),
            min_components=2,
        ),
    ),
    bands=(
        Band("A", 75, "Top of the universe on most measures"),
        Band("B", 60, "Better than most"),
        Band("C", 45, "Middle of the pack"),
        Band("D", 30, "Worse than most"),
        Band("E", 0, "Bottom of the universe on most measures"),
    ),
    signal=SignalDef(grade="trader", bullish_enter=60, bullish_exit=55, bearish_enter=40, bearish_exit=45),
    ranking=Ranking(universe_weight=50, category_weight=50, min_category_peers=3),
    score_move_points=10,
    price_average_days=7,
    price_average_min_days=5,
    revenue_max_lag_days=7,
    revenue_window_coverage=Decimal("0.9"),
    stdev_inputs=("revenue_consistency_90d", "volatility_90d"),
    universe_rule="A token is rated on a day when it has a price that day and the day's figures: a token "
    "listed later is not rated on the days before, and a token since delisted keeps the ratings of the "
    "days it was priced. Ranks are taken among the tokens rated that day.",
    notes=(
        "Every score is a percentile rank, so it says where a token stands among the tokens rated "
        "that day, not how good it is in absolute terms. A token in the middle of every measure scores 50.",
        "A figure that is missing is missing: a sub-metric without it is left out and the other "
        "sub-metrics of its component share its weight; a component with no sub-metric is missing, "
        "never 0, and the grade is the weighted mean of the components that are there, if enough are.",
        "Holders revenue counts twice in the Investor grade, by design: as holder yield under Value "
        "accrual (what holders get) and as P/HR under Valuation (what they pay for it).",
        "Inputs come only from figures dated on or before the rating's day; each rating stores its "
        "inputs, so any grade can be recomputed and checked. Inputs computed from daily history are "
        "stored to 6 significant digits, and scores are computed from the inputs as stored.",
    ),
    changes=(
        "A token is rated only on days it has a price (v1.0 rated every token with any figure that day, "
        "carrying a stale price forward, or on revenue alone before its price history began).",
        "Burned share is measured against the supply as of the rating's day (v1.0 used today's total supply "
        "for every past day).",
        "Holder yield is ranked as holders revenue ÷ market cap, so holders revenue of 0 or less ranks at the "
        "bottom (the figure shown for it is “—”, a yield on nothing).",
    ),
)

SIGNALS = ("bullish", "neutral", "bearish")
NOT_RATED = ""  # stored grade when there is none; the reason says why
