"""A stored rating explained (each component, its sub-metrics and the inputs behind them)
and two ratings compared, row by row; no queries: the ratings are read by selectors.py."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from .methodology import METHODOLOGY, Component
from .models import Rating


def _decimal(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None


@dataclass(frozen=True)
class InputRow:
    key: str
    label: str
    format: str
    description: str
    value: Decimal | None
    raw: str | None = None  # the input exactly as stored, for a reader who recomputes the grade


@dataclass(frozen=True)
class PartRow:
    key: str
    label: str
    weight: int
    note: str
    higher_is_better: bool
    inputs: list[InputRow]
    multiple: Decimal | None  # for "lower is better" multiples ranked by their inverse: the multiple
    universe: Decimal | None
    category: Decimal | None
    score: Decimal | None
    universe_size: int
    category_size: int


@dataclass(frozen=True)
class ComponentRow:
    key: str
    label: str
    description: str
    score: Decimal | None
    weights: dict[str, int]  # grade key → weight (grades that use this component)
    parts: list[PartRow]

    @property
    def inputs(self) -> list[InputRow]:
        """The component's inputs, each once, in the order its sub-metrics use them."""
        return list({i.key: i for part in self.parts for i in part.inputs}.values())


def _weights_of(component: Component) -> dict[str, int]:
    return {g.key: dict(g.weights)[component.key] for g in METHODOLOGY.grades if component.key in dict(g.weights)}


def _input_row(key: str, inputs: dict) -> InputRow:
    definition = METHODOLOGY.input(key)
    raw = inputs.get(key)
    return InputRow(
        key,
        definition.label,
        definition.format,
        definition.description,
        _decimal(raw),
        None if raw is None else str(raw),
    )


def explain(rating: Rating) -> list[ComponentRow]:
    """Each component of a stored rating with its sub-metrics and the inputs behind them."""
    rows = []
    inputs = rating.inputs or {}
    for component in METHODOLOGY.components:
        stored = (rating.components or {}).get(component.key) or {}
        parts = []
        for sub in component.submetrics:
            part = (stored.get("parts") or {}).get(sub.key) or (None, None, None, 0, 0)
            universe, category, score, universe_size, category_size = part
            multiple = None
            if sub.per:
                measure, per = _decimal(inputs.get(sub.measure)), _decimal(inputs.get(sub.per))
                if measure is not None and per is not None and measure > 0 and per > 0:
                    multiple = per / measure
            parts.append(
                PartRow(
                    key=sub.key,
                    label=sub.label,
                    weight=sub.weight,
                    note=sub.note,
                    higher_is_better=sub.higher_is_better,
                    inputs=[_input_row(key, inputs) for key in sub.inputs],
                    multiple=multiple,
                    universe=_decimal(universe),
                    category=_decimal(category),
                    score=_decimal(score),
                    universe_size=universe_size or 0,
                    category_size=category_size or 0,
                )
            )
        rows.append(
            ComponentRow(
                key=component.key,
                label=component.label,
                description=component.description,
                score=getattr(rating, f"{component.key}_score"),
                weights=_weights_of(component),
                parts=parts,
            )
        )
    return rows


# --- Comparing two ratings ------------------------------------------------------------------


@dataclass(frozen=True)
class ChangeRow:
    label: str
    level: str  # grade, component, part
    before: Decimal | None
    after: Decimal | None
    before_text: str = ""  # a grade's letter or a signal
    after_text: str = ""
    inputs: list[tuple[InputRow, InputRow]] = field(default_factory=list)

    @property
    def delta(self) -> Decimal | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before


@dataclass(frozen=True)
class Comparison:
    before: Rating | None
    after: Rating | None
    requested_from: dt.date | None = None
    requested_to: dt.date | None = None
    rows: list[ChangeRow] = field(default_factory=list)
    error: str = ""


def _grade_text(grade: str) -> str:
    return grade or "Not rated"


def compare(before: Rating, after: Rating) -> list[ChangeRow]:
    """Grades, then each component and its sub-metrics, with the inputs that moved them."""
    rows = [
        ChangeRow(
            "Investor grade",
            "grade",
            before.investor_score,
            after.investor_score,
            _grade_text(before.investor_grade),
            _grade_text(after.investor_grade),
        ),
        ChangeRow(
            "Trader grade",
            "grade",
            before.trader_score,
            after.trader_score,
            _grade_text(before.trader_grade),
            _grade_text(after.trader_grade),
        ),
        ChangeRow(
            "Signal",
            "grade",
            None,
            None,
            before.get_signal_display() if before.signal else "—",
            after.get_signal_display() if after.signal else "—",
        ),
    ]
    for old, new in zip(explain(before), explain(after), strict=True):
        rows.append(ChangeRow(old.label, "component", old.score, new.score))
        for old_part, new_part in zip(old.parts, new.parts, strict=True):
            rows.append(
                ChangeRow(
                    old_part.label,
                    "part",
                    old_part.score,
                    new_part.score,
                    inputs=list(zip(old_part.inputs, new_part.inputs, strict=True)),
                )
            )
    return rows
