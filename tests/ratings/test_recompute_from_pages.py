"""A reader recomputes every grade from the token pages and the methodology page alone.

The rules (weights, blend, category peers, bands, grade conditions, which inputs each
sub-metric ranks and which way, and the rank formula itself) are read from the
methodology page; the inputs, ranks and scores from each token's page. Nothing here calls
the scoring code: if a page left an input out, or the methodology stated a wrong formula or
weight, the recomputed grades would not match the stored ones."""

from __future__ import annotations

import ast
import datetime as dt
import re
from dataclasses import dataclass, replace
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

import pytest

from apps.ratings.models import Rating
from apps.ratings.services import ratings_backfill

from .builders import END, rated_universe
from .html_tree import Element, parse

pytestmark = pytest.mark.django_db

MISSING = "—"
TOO_FEW_PEERS = "— (too few tokens in the category have this figure)"


@dataclass(frozen=True)
class Sub:
    weight: int
    measure: str
    per: str
    higher_is_better: bool


@dataclass(frozen=True)
class GradeRule:
    weights: dict[str, int]
    required: tuple[str, ...]
    min_components: int
    min_history: int


@dataclass(frozen=True)
class Rules:
    components: dict[str, dict[str, Sub]]
    grades: dict[str, GradeRule]
    universe_weight: int
    category_weight: int
    min_peers: int
    formula: str
    lone_score: int
    bands: list[tuple[str, int]]


@dataclass
class TokenPage:
    slug: str
    category: str
    inputs: dict[str, dict[str, str | None]]  # "component.sub" → input key → exact value
    ranks: dict[str, tuple[str, str, str]]  # "component.sub" → universe, category, score (as shown)
    components: dict[str, str]
    grades: dict[str, tuple[str, str]]  # grade → (letter or "NR", score as shown)
    history_days: str | None


def read_methodology(client) -> Rules:
    page = parse(client.get("/ratings/methodology/").content.decode())
    components: dict[str, dict[str, Sub]] = {}
    for row in page.find_all("tr", data_submetric=True):
        component, sub = row.attrs["data-submetric"].split(".")
        components.setdefault(component, {})[sub] = Sub(
            int(row.find("td", data_weight=True).text.rstrip("%")),
            row.attrs["data-measure"],
            row.attrs["data-per"],
            row.attrs["data-better"] == "higher",
        )
    grades = {
        block.attrs["data-grade"]: GradeRule(
            {
                c.attrs["data-weight"].split(".")[1]: int(c.text.rstrip("%"))
                for c in block.find_all("td", data_weight=True)
            },
            tuple(block.attrs["data-required"].split(",")),
            int(block.attrs["data-min-components"]),
            int(block.attrs["data-min-history"]),
        )
        for block in page.find_all("div", data_grade=True)
    }
    return Rules(
        components=components,
        grades=grades,
        universe_weight=int(page.find(data_universe_weight=True).text.rstrip("%")),
        category_weight=int(page.find(data_category_weight=True).text.rstrip("%")),
        min_peers=int(page.find(data_min_peers=True).text),
        formula=page.find("code", data_formula="rank").text,
        lone_score=int(page.find(data_lone_score=True).text),
        bands=[(cell.attrs["data-band"], int(cell.attrs["data-min"])) for cell in page.find_all("td", data_band=True)],
    )


def read_token_page(client, slug: str) -> TokenPage:
    page = parse(client.get(f"/tokens/{slug}/").content.decode())
    category = re.search(r"category=([\w-]+)", page.find("a", **{"class": "tag"}).attrs["href"]).group(1)
    inputs, ranks = {}, {}
    for row in page.find_all("tr", data_part=True):
        key = row.attrs["data-part"]
        inputs[key] = {d.attrs["data-input"]: d.attrs["value"] or None for d in row.find_all("data", data_input=True)}
        ranks[key] = tuple(row.find("td", data_rank=which).text for which in ("universe", "category", "score"))
    components = {
        block.attrs["data-component"]: block.find(data_component_score=True).text
        for block in page.find_all("details", data_component=True)
    }
    grades = {}
    for card in page.find_all(data_grade=True):
        if card.tag == "span":
            grades[card.attrs["data-grade"]] = (
                card.find("span").text,
                card.find("span", **{"class": "grade-score"}).text,
            )
    history = page.find("data", data_input="revenue_history_days").attrs["value"] or None
    return TokenPage(slug, category, inputs, ranks, components, grades, history)


# --- arithmetic as the methodology states it --------------------------------------------------


def tenths(value: Fraction) -> Decimal:
    """Rounded half up to 0.1."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(Decimal("0.1"), ROUND_HALF_UP)


def formula_function(text: str):
    """The page's rank formula as a function of worse, tied and n, in exact fractions."""
    expression = text.split("=", 1)[1].replace("×", "*").replace("÷", "/").replace("−", "-")
    tree = ast.parse(expression.strip(), mode="eval")
    allowed = (ast.Expression, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Constant, ast.Name, ast.Load)
    assert all(isinstance(node, allowed) for node in ast.walk(tree)), text

    def rank(*, worse: int, tied: int, n: int) -> Fraction:
        def value(node):
            if isinstance(node, ast.Expression):
                return value(node.body)
            if isinstance(node, ast.Constant):
                return Fraction(node.value)
            if isinstance(node, ast.Name):
                return Fraction({"worse": worse, "tied": tied, "n": n}[node.id])
            left, right = value(node.left), value(node.right)
            return {ast.Add: left + right, ast.Sub: left - right, ast.Mult: left * right}.get(
                type(node.op), left / right if isinstance(node.op, ast.Div) else None
            )

        return value(tree)

    return rank


def percentile(values: dict[str, float], slug: str, rules: Rules, higher_is_better: bool) -> Decimal:
    n = len(values)
    if n == 1:
        return Decimal(rules.lone_score).quantize(Decimal("0.1"))
    mine = values[slug]
    worse = sum(1 for v in values.values() if (v < mine if higher_is_better else v > mine))
    tied = sum(1 for v in values.values() if v == mine)
    return tenths(formula_function(rules.formula)(worse=worse, tied=tied, n=n))


def mean(pairs: list[tuple[int, Decimal]]) -> Decimal | None:
    if not pairs:
        return None
    return tenths(sum(Fraction(w) * Fraction(s) for w, s in pairs) / sum(w for w, _ in pairs))


def shown(value: Decimal | None, size: int | None = None) -> str:
    if value is None:
        return MISSING
    return f"{value:.1f}" + (f" of {size}" if size is not None else "")


def recompute(rules: Rules, pages: dict[str, TokenPage]) -> dict[str, dict[str, tuple[str, str]]]:
    """Every token's components and grades from the pages; asserts each rank and score shown."""
    components: dict[str, dict[str, Decimal | None]] = {slug: {} for slug in pages}
    for component, subs in rules.components.items():
        scores: dict[str, list[tuple[int, Decimal]]] = {slug: [] for slug in pages}
        for sub_key, sub in subs.items():
            key = f"{component}.{sub_key}"
            values = {}
            for slug, page in pages.items():
                measure = page.inputs[key][sub.measure]  # a KeyError if the page left the input out
                per = page.inputs[key][sub.per] if sub.per else "1"
                if measure is not None and per is not None and float(per) > 0:
                    values[slug] = float(measure) / float(per) if sub.per else float(measure)
            for slug, page in pages.items():
                if slug not in values:
                    assert page.ranks[key] == (MISSING, MISSING, MISSING), (slug, key)
                    continue
                universe = percentile(values, slug, rules, sub.higher_is_better)
                peers = {s: v for s, v in values.items() if pages[s].category == page.category}
                category = (
                    percentile(peers, slug, rules, sub.higher_is_better) if len(peers) >= rules.min_peers else None
                )
                if category is None:
                    score = universe
                else:
                    blend = rules.universe_weight + rules.category_weight
                    score = tenths(
                        (rules.universe_weight * Fraction(universe) + rules.category_weight * Fraction(category))
                        / blend
                    )
                assert page.ranks[key] == (
                    shown(universe, len(values)),
                    shown(category, len(peers)) if category is not None else TOO_FEW_PEERS,
                    shown(score),
                ), (slug, key)
                scores[slug].append((sub.weight, score))
        for slug in pages:
            components[slug][component] = mean(scores[slug])
            assert pages[slug].components[component] == shown(components[slug][component]), (slug, component)
    result = {}
    for slug, page in pages.items():
        result[slug] = {}
        for grade, rule in rules.grades.items():
            present = [(w, components[slug][c]) for c, w in rule.weights.items() if components[slug][c] is not None]
            history = page.history_days
            rated = (
                (not rule.min_history or (history is not None and Decimal(history) >= rule.min_history))
                and all(components[slug][c] is not None for c in rule.required)
                and len(present) >= rule.min_components
            )
            score = mean(present) if rated else None
            letter = next(letter for letter, floor in rules.bands if score >= floor) if score is not None else "NR"
            result[slug][grade] = (letter, shown(score))
    return result


@pytest.fixture
def pages(client) -> dict[str, TokenPage]:
    rated_universe()
    ratings_backfill(start=END - dt.timedelta(days=1), end=END)
    return {slug: read_token_page(client, slug) for slug in ("alpha", "beta", "gamma", "delta", "epsilon")}


def test_every_grade_recomputes_from_the_token_pages_and_the_methodology(client, pages):
    rules = read_methodology(client)

    recomputed = recompute(rules, pages)

    stored = {
        r.token.slug: {
            "investor": (r.investor_grade or "NR", shown(r.investor_score)),
            "trader": (r.trader_grade or "NR", shown(r.trader_score)),
        }
        for r in Rating.objects.filter(date=END).select_related("token")
    }
    assert recomputed == stored
    assert {page.grades["investor"] for page in pages.values()} == {g["investor"] for g in stored.values()}
    assert sum(grades["investor"][0] != "NR" for grades in recomputed.values()) == 3  # delta, epsilon: why on the page


def test_the_check_fails_on_a_wrong_formula_weight_or_a_missing_input(client, pages):
    """The recomputation has teeth: a misdescribed rule or an input left off a page is caught."""
    rules = read_methodology(client)
    wrong = [
        replace(rules, formula="rank = 100 × (worse + tied ÷ 2) ÷ n"),
        replace(rules, universe_weight=60, category_weight=40),
        replace(rules, min_peers=2),
    ]
    for bad in wrong:
        with pytest.raises(AssertionError):
            recompute(bad, pages)
    del pages["alpha"].inputs["valuation.ps"]["market_cap_usd"]
    with pytest.raises(KeyError):
        recompute(rules, pages)


def test_the_token_page_element_tree_is_read_as_shown():
    tree: Element = parse('<p>a <span data-x="1">b <b>c</b></span> d<script>e</script></p>')
    assert tree.text == "a b c d" and tree.find(data_x="1").text == "b c"


def test_the_published_rank_formula_is_the_one_scores_are_computed_with():
    """The formula as the methodology states it, evaluated, against the ranks the scores use —
    with ties, lower-is-better, and the lone value."""
    import random

    import numpy as np

    from apps.ratings.methodology import METHODOLOGY
    from apps.ratings.scoring import ranks

    rank = formula_function(f"rank = {METHODOLOGY.ranking.formula}")
    rnd = random.Random(10)
    for size in (1, 2, 3, 7, 40):
        values = {n: float(rnd.choice([0, 1, 2, 2, 3, 5, 8])) for n in range(size)}
        for higher in (True, False):
            computed = ranks(np.array([values[n] for n in range(size)]), higher_is_better=higher).tolist()
            for key, value in values.items():
                if size == 1:
                    assert computed[key] == 10 * METHODOLOGY.ranking.lone_score
                    continue
                worse = sum(1 for v in values.values() if (v < value if higher else v > value))
                tied = sum(1 for v in values.values() if v == value)
                assert Decimal(computed[key]) / 10 == tenths(rank(worse=worse, tied=tied, n=size))
