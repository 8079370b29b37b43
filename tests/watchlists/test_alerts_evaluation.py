"""Alert evaluation: each kind fires on a hand-built change and not otherwise; watchlist
rules cover the list's tokens; each (rule, event) fires once however often evaluation runs;
the query count does not grow with the number of rules."""

from __future__ import annotations

from decimal import Decimal
from unittest import mock

import pytest

from apps.watchlists import evaluation
from apps.watchlists.evaluation import alerts_evaluate
from apps.watchlists.models import AlertRule, Notification
from apps.watchlists.services import watchlist_add, watchlist_create
from tests.factories import UserFactory
from tests.watchlists.alert_builders import (
    DAY,
    YESTERDAY,
    accrual_event,
    band_change,
    rule,
    token_with_history,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def reader():
    return UserFactory()


def fired(r: AlertRule) -> list[str]:
    return list(Notification.objects.filter(rule=r).values_list("message", flat=True))


# --- Each kind fires on its change, and only then ------------------------------------------


@pytest.mark.parametrize(
    ("subject", "kind", "before", "after", "direction", "fires"),
    [
        ("investor", "investor_band", "B", "A", "any", True),
        ("investor", "investor_band", "B", "A", "up", True),
        ("investor", "investor_band", "B", "A", "down", False),
        ("investor", "investor_band", "B", "C", "down", True),
        ("trader", "trader_band", "C", "D", "any", True),
        ("trader", "investor_band", "C", "D", "any", False),  # a trader change is not an investor one
        ("signal", "signal_flip", "bearish", "bullish", "any", True),
        ("signal", "signal_flip", "bearish", "bullish", "down", False),
    ],
)
def test_grade_and_signal_rules_fire_on_their_change(reader, subject, kind, before, after, direction, fires):
    token = token_with_history("alpha")
    band_change(token, subject=subject, before=before, after=after)
    r = rule(reader, token=token, kind=kind, direction=direction)
    alerts_evaluate(day=DAY)
    messages = fired(r)
    assert bool(messages) is fires
    if fires:
        assert messages[0].startswith("ALPHA: ") and f"{before}" in messages[0] and f"{after}" in messages[0]


def test_a_band_change_on_another_day_or_token_does_not_fire(reader):
    token, other = token_with_history("alpha"), token_with_history("beta")
    band_change(token, day=YESTERDAY)
    band_change(other)
    r = rule(reader, token=token, kind="investor_band")
    alerts_evaluate(day=DAY)
    assert fired(r) == []


@pytest.mark.parametrize(
    ("kind", "field", "week_ago", "today", "threshold", "direction", "fires"),
    [
        ("revenue_wow", "revenue_annualised", "1000000", "1250000", 20, "up", True),
        ("revenue_wow", "revenue_annualised", "1000000", "1150000", 20, "up", False),  # under the threshold
        ("revenue_wow", "revenue_annualised", "1000000", "700000", 20, "up", False),  # the other way
        ("revenue_wow", "revenue_annualised", "1000000", "700000", 20, "down", True),
        ("revenue_wow", "revenue_annualised", "1000000", "700000", 20, "any", True),
        ("holders_revenue_wow", "holders_revenue_annualised", "500000", "600000", 10, "any", True),
        ("holders_revenue_wow", "holders_revenue_annualised", "500000", "520000", 10, "any", False),
    ],
)
def test_revenue_rules_compare_with_a_week_before(reader, kind, field, week_ago, today, threshold, direction, fires):
    token = token_with_history("alpha", week_ago={field: Decimal(week_ago)}, today={field: Decimal(today)})
    r = rule(reader, token=token, kind=kind, threshold=threshold, direction=direction)
    alerts_evaluate(day=DAY)
    assert bool(fired(r)) is fires


def test_a_revenue_move_from_nothing_does_not_fire(reader):
    token = token_with_history("alpha", week_ago={"revenue_annualised": None}, today={"revenue_annualised": 5})
    r = rule(reader, token=token, kind="revenue_wow", threshold=10)
    alerts_evaluate(day=DAY)
    assert fired(r) == []


@pytest.mark.parametrize(
    ("kind", "field", "yesterday", "today", "threshold", "direction", "fires"),
    [
        ("ps_cross", "ps", "9", "11", 10, "up", True),
        ("ps_cross", "ps", "9", "11", 10, "down", False),
        ("ps_cross", "ps", "11", "9", 10, "down", True),
        ("ps_cross", "ps", "11", "12", 10, "any", False),  # already above: no crossing
        ("phr_cross", "phr", "21", "19", 20, "any", True),
        ("phr_cross", "phr", "25", "21", 20, "any", False),
    ],
)
def test_ratio_rules_fire_when_the_ratio_crosses(reader, kind, field, yesterday, today, threshold, direction, fires):
    token = token_with_history("alpha", yesterday={field: Decimal(yesterday)}, today={field: Decimal(today)})
    r = rule(reader, token=token, kind=kind, threshold=threshold, direction=direction)
    alerts_evaluate(day=DAY)
    assert bool(fired(r)) is fires


@pytest.mark.parametrize(
    ("yesterday", "today", "threshold", "direction", "fires"),
    [("10", "11.5", 10, "any", True), ("10", "10.5", 10, "any", False), ("10", "8", 15, "down", True)],
)
def test_price_rules_compare_with_the_day_before(reader, yesterday, today, threshold, direction, fires):
    token = token_with_history(
        "alpha", yesterday={"price_usd": Decimal(yesterday)}, today={"price_usd": Decimal(today)}
    )
    r = rule(reader, token=token, kind="price_move", threshold=threshold, direction=direction)
    alerts_evaluate(day=DAY)
    assert bool(fired(r)) is fires


def test_a_buyback_or_burn_of_at_least_the_amount_fires(reader):
    token = token_with_history("alpha")
    big = accrual_event(token, usd="2000000", kind="buyback-burn", reference="0x1")
    accrual_event(token, usd="50000", kind="burn", reference="0x2")  # too small
    accrual_event(token, usd="9000000", kind="distribution", reference="0x3")  # not a buyback or burn
    accrual_event(token, usd="9000000", kind="buyback", day=YESTERDAY, reference="0x4")  # another day
    r = rule(reader, token=token, kind="accrual_event", threshold=1_000_000)
    alerts_evaluate(day=DAY)
    assert list(Notification.objects.filter(rule=r).values_list("event_key", flat=True)) == [f"event:{big.pk}"]
    assert fired(r) == ["ALPHA: buy and burn of $2,000,000 on 2026-12-05"]


def test_a_paused_rule_does_not_fire(reader):
    token = token_with_history("alpha")
    band_change(token)
    r = rule(reader, token=token, kind="investor_band")
    AlertRule.objects.filter(pk=r.pk).update(is_active=False)
    alerts_evaluate(day=DAY)
    assert fired(r) == []


# --- Watchlist rules ---------------------------------------------------------------------


def test_a_watchlist_rule_covers_each_token_on_the_list(reader):
    alpha, beta, gamma = (token_with_history(s) for s in ("alpha", "beta", "gamma"))
    watchlist = watchlist_create(user=reader, name="Core")
    watchlist_add(user=reader, token=alpha, watchlist=watchlist)
    watchlist_add(user=reader, token=beta, watchlist=watchlist)
    for token in (alpha, beta, gamma):
        band_change(token)
    r = rule(reader, watchlist=watchlist, kind="investor_band")
    alerts_evaluate(day=DAY)
    tokens = set(Notification.objects.filter(rule=r).values_list("token__slug", flat=True))
    assert tokens == {"alpha", "beta"}
    assert Notification.objects.filter(rule=r, user=reader).count() == 2


# --- Once per (rule, event) ----------------------------------------------------------------


def _three_rules(reader):
    token = token_with_history("alpha", today={"price_usd": Decimal("20")})
    band_change(token)
    accrual_event(token, usd="5000000")
    return [
        rule(reader, token=token, kind="investor_band"),
        rule(reader, token=token, kind="price_move", threshold=50),
        rule(reader, token=token, kind="accrual_event", threshold=1000),
    ]


def test_evaluating_twice_fires_once(reader):
    rules = _three_rules(reader)
    alerts_evaluate(day=DAY)
    alerts_evaluate(day=DAY)
    assert Notification.objects.count() == 3
    assert {n.rule_id for n in Notification.objects.all()} == {r.pk for r in rules}


def test_a_run_that_dies_midway_then_reruns_fires_once(reader):
    _three_rules(reader)
    alerts_evaluate(day=DAY)  # a first run wrote its notifications, then its worker died before acking
    real = evaluation.MATCHERS["accrual_event"]
    with (
        mock.patch.dict(evaluation.MATCHERS, {"accrual_event": mock.Mock(side_effect=RuntimeError("worker lost"))}),
        pytest.raises(RuntimeError),
    ):
        alerts_evaluate(day=DAY)  # the redelivered run dies mid-way
    assert evaluation.MATCHERS["accrual_event"] is real
    alerts_evaluate(day=DAY)  # and runs again
    assert Notification.objects.count() == 3
    assert sorted(Notification.objects.values_list("event_key", flat=True)) == sorted(
        set(Notification.objects.values_list("event_key", flat=True))
    )


def test_a_second_change_the_next_day_fires_again(reader):
    token = token_with_history("alpha")
    band_change(token, day=YESTERDAY, before="C", after="B")
    band_change(token, day=DAY, before="B", after="A")
    r = rule(reader, token=token, kind="investor_band")
    alerts_evaluate(day=YESTERDAY)
    alerts_evaluate(day=DAY)
    assert len(fired(r)) == 2


# --- Query count flat in the number of rules ---------------------------------------------------


def _rules_on_changed_tokens(count: int) -> None:
    tokens = [token_with_history(f"t{i}", today={"price_usd": Decimal("20")}) for i in range(5)]
    for token in tokens:
        band_change(token)
    users = [UserFactory() for _ in range(3)]
    kinds = [
        ("investor_band", None),
        ("price_move", 10),
        ("ps_cross", 100),
        ("revenue_wow", 5),
        ("accrual_event", 1),
        ("signal_flip", None),
    ]
    AlertRule.objects.bulk_create(
        AlertRule(
            user=users[i % 3],
            token=tokens[i % 5],
            kind=kinds[i % len(kinds)][0],
            threshold=kinds[i % len(kinds)][1],
        )
        for i in range(count)
    )


@pytest.mark.parametrize("count", [10, 1000])
def test_evaluation_query_count_does_not_depend_on_the_number_of_rules(count, django_assert_num_queries):
    _rules_on_changed_tokens(count)
    # One query a kind (9), the matched tokens' symbols, and the insert in a savepoint (3).
    with django_assert_num_queries(13):
        result = alerts_evaluate(day=DAY)
    assert result.matched > 0
    assert Notification.objects.count() == result.matched
