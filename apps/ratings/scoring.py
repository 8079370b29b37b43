"""Ratings methodology v1 applied: the pure functions that score a day's universe of tokens
against ``methodology.METHODOLOGY`` and grade them.

No ORM here: the service hands over plain inputs per token (``TokenInputs``) and stores
what comes back. Scores are kept as integer tenths of a point while computing, so every
rounding is exact, half-up, and the same on every machine.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from itertools import repeat
from typing import NamedTuple

import numpy as np

from .methodology import METHODOLOGY, NOT_RATED, GradeDef, Methodology, Ranking, SignalDef, SubMetric

# --- Inputs and results ----------------------------------------------------------------

Number = Decimal | float | int | str


class TokenInputs(NamedTuple):
    """One token's inputs on one day: input key → value (None when missing)."""

    token_id: int
    category: str
    values: Mapping[str, Number | None]


class PartScore(NamedTuple):
    """A sub-metric: the ranked value, its percentile in the universe and in the category
    (None when the category has too few peers), and the blended score — in tenths of a
    point (625 is 62.5), so that all rounding is exact integer arithmetic."""

    value: float | None
    universe_tenths: int | None = None
    category_tenths: int | None = None
    score_tenths: int | None = None
    universe_size: int = 0
    category_size: int = 0

    @property
    def universe(self) -> Decimal | None:
        return _points(self.universe_tenths)

    @property
    def category(self) -> Decimal | None:
        return _points(self.category_tenths)

    @property
    def score(self) -> Decimal | None:
        return _points(self.score_tenths)


class ComponentScore(NamedTuple):
    score: Decimal | None
    parts: dict[str, PartScore]


class GradeResult(NamedTuple):
    score: Decimal | None
    band: str  # "A"–"E", or NOT_RATED
    reason: str = ""  # why there is no grade


class TokenRating(NamedTuple):
    components: dict[str, ComponentScore]
    investor: GradeResult
    trader: GradeResult
    signal: str  # bullish, neutral, bearish; "" without a trader grade


# --- Arithmetic in tenths of a point ---------------------------------------------------

# Scores are 0–1000 tenths; their Decimals are made once.
_POINTS = [Decimal(tenths).scaleb(-1) for tenths in range(1001)]


def _div_half_up(numerator: int, denominator: int) -> int:
    """numerator ÷ denominator rounded half up, for non-negative integers."""
    return (2 * numerator + denominator) // (2 * denominator)


def _tenths(value: Decimal | None) -> int | None:
    return None if value is None else int(value * 10)


def _points(tenths: int | None) -> Decimal | None:
    if tenths is None:
        return None
    return _POINTS[tenths] if 0 <= tenths <= 1000 else Decimal(tenths).scaleb(-1)


def _number(value: Number | None) -> float | None:
    if value is None or value == "":
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def band_for(score: Decimal | None, methodology: Methodology = METHODOLOGY) -> str:
    if score is None:
        return NOT_RATED
    return next(b.letter for b in methodology.bands if score >= b.min_score)


def next_signal(previous: str, score: Decimal | None, definition: SignalDef = METHODOLOGY.signal) -> str:
    """Today's signal from today's score and yesterday's signal (hysteresis)."""
    if score is None:
        return ""
    if previous == "bullish" and score >= definition.bullish_exit:
        return "bullish"
    if previous == "bearish" and score <= definition.bearish_exit:
        return "bearish"
    if score >= definition.bullish_enter:
        return "bullish"
    if score <= definition.bearish_enter:
        return "bearish"
    return "neutral"


# --- Rating a universe ------------------------------------------------------------------

_MISSING = PartScore(None)
# Namedtuples made without their Python-level __new__: a day makes hundreds of thousands.
_part = partial(tuple.__new__, PartScore)
_component = partial(tuple.__new__, ComponentScore)
_rating = partial(tuple.__new__, TokenRating)


def ranks(values: np.ndarray, *, higher_is_better: bool = True) -> np.ndarray:
    """Each value's percentile rank among the values, in tenths of a point (0–1000), as an array.

    rank = 100 × (worse + ½ × (tied − 1)) ÷ (n − 1), rounded half up: the worst scores 0, the
    best 100, ties share the middle rank, a lone value scores 50."""
    n = len(values)
    if n == 1:
        return np.full(1, 500, dtype=np.int64)
    _, where, tied = np.unique(values, return_inverse=True, return_counts=True)
    below = np.cumsum(tied) - tied
    worse = below if higher_is_better else n - below - tied
    denominator = 2 * (n - 1)
    return ((2000 * (2 * worse + tied - 1) + denominator) // (2 * denominator))[where]


@dataclass
class _Universe:
    """A day's tokens as arrays: row ``i`` is ``tokens[i]``; each input a float column (NaN
    where missing), categories as codes."""

    size: int
    category_codes: np.ndarray
    category_count: int
    columns: dict[str, np.ndarray]


def _universe(tokens: Sequence[TokenInputs], keys: Sequence[str]) -> _Universe:
    codes: dict[str, int] = {}
    category_codes = np.fromiter(
        (codes.setdefault(t.category, len(codes)) for t in tokens), dtype=np.int64, count=len(tokens)
    )
    columns = {key: [math.nan] * len(tokens) for key in keys}
    for row, token in enumerate(tokens):
        for key, value in token.values.items():
            if value is not None and value != "" and key in columns:
                number = float(value)
                if math.isfinite(number):
                    columns[key][row] = number
    return _Universe(
        len(tokens), category_codes, len(codes), {key: np.array(column, dtype=float) for key, column in columns.items()}
    )


def _score_submetric(sub: SubMetric, universe: _Universe, ranking: Ranking) -> list[PartScore]:
    """Every token's score on one sub-metric, in the universe's row order (``_MISSING``
    where the token has no value)."""
    values = universe.columns[sub.measure]
    if sub.per:
        per = universe.columns[sub.per]
        with np.errstate(all="ignore"):
            values = np.where(per > 0, values / per, np.nan)  # NaN: no measure, or no divisor > 0
    rows = np.flatnonzero(~np.isnan(values))
    parts = [_MISSING] * universe.size
    if not len(rows):
        return parts
    present = values[rows]
    universe_ranks = ranks(present, higher_is_better=sub.higher_is_better)
    codes = universe.category_codes[rows]
    sizes = np.bincount(codes, minlength=universe.category_count)
    category_ranks = np.full(len(rows), -1, dtype=np.int64)  # -1: too few peers
    for code in np.flatnonzero(sizes >= ranking.min_category_peers).tolist():
        members = np.flatnonzero(codes == code)
        category_ranks[members] = ranks(present[members], higher_is_better=sub.higher_is_better)
    u_weight, c_weight = ranking.universe_weight, ranking.category_weight
    blend = u_weight + c_weight
    scores = np.where(
        category_ranks >= 0,
        (2 * (u_weight * universe_ranks + c_weight * category_ranks) + blend) // (2 * blend),
        universe_ranks,
    )
    made = map(
        _part,
        zip(
            present.tolist(),
            universe_ranks.tolist(),
            [None if c < 0 else c for c in category_ranks.tolist()],
            scores.tolist(),
            repeat(len(rows)),
            sizes[codes].tolist(),
        ),
    )
    if len(rows) == universe.size:
        return list(made)
    for row, part in zip(rows.tolist(), made, strict=True):
        parts[row] = part
    return parts


def grade(
    definition: GradeDef,
    components: Mapping[str, ComponentScore],
    values: Mapping[str, Number | None],
    methodology: Methodology = METHODOLOGY,
) -> GradeResult:
    """A grade from component scores, or "Not rated" with the reason."""
    tenths = {key: _tenths(component.score) for key, component in components.items()}
    return _grade(definition, tenths, _number(values.get("revenue_history_days")), methodology)


def _grade(
    definition: GradeDef, components: Mapping[str, int | None], history: float | None, methodology: Methodology
) -> GradeResult:
    if definition.min_revenue_history_days:
        if not history:
            return GradeResult(None, NOT_RATED, "No revenue data.")
        if history < definition.min_revenue_history_days:
            return GradeResult(
                None,
                NOT_RATED,
                f"Only {int(history)} days of revenue history; {definition.min_revenue_history_days} needed.",
            )
    for key in definition.required:
        if components[key] is None:
            return GradeResult(None, NOT_RATED, f"No data for the {methodology.component(key).label} component.")
    total = weights = present = 0
    for key, weight in definition.weights:
        tenths = components[key]
        if tenths is not None:
            total += weight * tenths
            weights += weight
            present += 1
    if present < definition.min_components:
        return GradeResult(
            None,
            NOT_RATED,
            f"Only {present} of {len(definition.weights)} components have data; {definition.min_components} needed.",
        )
    score = _div_half_up(total, weights)
    points = _points(score)
    return GradeResult(points, band_for(points, methodology))


def rate_universe(
    tokens: Sequence[TokenInputs],
    *,
    previous_signals: Mapping[int, str] | None = None,
    methodology: Methodology = METHODOLOGY,
) -> dict[int, TokenRating]:
    """Rate every token of one day's universe. Pure and deterministic: the result depends
    only on the inputs (not on their order) and on each token's previous signal."""
    previous_signals = previous_signals or {}
    universe = _universe(tokens, methodology.input_keys)
    # Per component: its sub-metric keys, each token's parts, and its score in tenths (-1: none).
    plan = []
    for component in methodology.components:
        total = np.zeros(universe.size, dtype=np.int64)
        weights = np.zeros(universe.size, dtype=np.int64)
        columns = []
        for sub in component.submetrics:
            parts = _score_submetric(sub, universe, methodology.ranking)
            columns.append(parts)
            scores = np.fromiter((-1 if p[3] is None else p[3] for p in parts), dtype=np.int64, count=universe.size)
            total += np.where(scores >= 0, sub.weight * scores, 0)
            weights += np.where(scores >= 0, sub.weight, 0)
        tenths = np.where(weights > 0, (2 * total + weights) // (2 * np.maximum(weights, 1)), -1)
        keys = tuple(sub.key for sub in component.submetrics)
        plan.append((component.key, keys, list(zip(*columns, strict=True)), tenths.tolist()))
    investor_def = methodology.grade("investor")
    trader_def = methodology.grade("trader")
    history_days = universe.columns["revenue_history_days"].tolist()
    ratings = {}
    for row, token in enumerate(tokens):
        components, tenths = {}, {}
        for component_key, keys, parts, scores in plan:
            score = tenths[component_key] = None if scores[row] < 0 else scores[row]
            components[component_key] = _component((_points(score), dict(zip(keys, parts[row], strict=True))))
        history = history_days[row]
        history = None if history != history else history  # NaN: missing
        investor = _grade(investor_def, tenths, history, methodology)
        trader = _grade(trader_def, tenths, history, methodology)
        signal_score = investor.score if methodology.signal.grade == "investor" else trader.score
        signal = next_signal(previous_signals.get(token.token_id, ""), signal_score, methodology.signal)
        ratings[token.token_id] = _rating((components, investor, trader, signal))
    return ratings
