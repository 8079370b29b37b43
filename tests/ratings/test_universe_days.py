"""The rated universe's stored days: the hand-computed days, an incremental update that
computes only the missing and recent days (and from ``since``), a revised price picked up,
the ratings services and the rebuild command keeping them current."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from apps.ratings.models import Rating, UniverseDay
from apps.ratings.selectors import VERSION
from apps.ratings.services import ratings_backfill
from apps.ratings.universe_days import EVERY_DAY, REVISION_WINDOW_DAYS, universe_days, universe_days_update
from apps.tokens.models import PriceDay
from tests.factories import PriceDayFactory, TokenFactory

from .builders import END, rated_universe

pytestmark = pytest.mark.django_db

D = [dt.date(2026, 3, 1) + dt.timedelta(days=n) for n in range(40)]
LATER = D[-1] + dt.timedelta(days=30)  # a "today" long after the fixtures' days


def _prices(token, by_day: dict[int, str]) -> None:
    for n, price in by_day.items():
        PriceDayFactory(token=token, date=D[n], price_usd=Decimal(price))


def _rate(token, n: int) -> None:
    Rating.objects.create(
        token=token, date=D[n], methodology_version=VERSION, fingerprint="f", computed_at=timezone.now()
    )


def _stored() -> dict[dt.date, tuple[float, int]]:
    return {u.date: (u.moves_sum, u.members) for u in UniverseDay.objects.all()}


def _close(stored: dict[dt.date, tuple[float, int]], expected: dict[dt.date, tuple[float, int]]) -> None:
    assert list(stored) == list(expected)
    for day, (moves_sum, members) in expected.items():
        assert stored[day][0] == pytest.approx(moves_sum, rel=1e-12, abs=1e-15)
        assert stored[day][1] == members


def _hand_universe():
    """U1 rated D0 (no price D2); U2 rated D1; U3 never rated; U4 rated D0, first priced D2."""
    u1, u2, u3, u4 = TokenFactory.create_batch(4)
    _prices(u1, {0: "10", 1: "12", 3: "6", 4: "6"})
    _prices(u2, {0: "4", 1: "5", 2: "6", 3: "6", 4: "3"})
    _prices(u3, {0: "1", 1: "2", 2: "3", 3: "4", 4: "5"})
    _prices(u4, {2: "8", 3: "10", 4: "10"})
    for token, n in ((u1, 0), (u1, 3), (u2, 1), (u4, 0)):
        _rate(token, n)
    return u1, u2, u3, u4


# Members at each day's close: U1 from D0, U2 from D1, U4 from D2 (its first price).
# Moves: D1 U1 12/10−1 = 0.2 (U2 is rated on D1: from D2); D2 U1 carried, U2 6/5−1 = 0.2,
# U4 has no price before; D3 U1 6/12−1 = −0.5, U2 0, U4 10/8−1 = 0.25; D4 U2 3/6−1 = −0.5.
HAND_DAYS = {D[0]: (0.0, 1), D[1]: (0.2, 2), D[2]: (0.2, 3), D[3]: (-0.25, 3), D[4]: (-0.5, 3)}


def test_stored_days_are_the_hand_computed_universe():
    _hand_universe()

    assert universe_days_update(today=LATER) == 5

    _close(_stored(), HAND_DAYS)


@pytest.mark.parametrize("since", [1, 2, 3, 4])
def test_days_recomputed_from_any_day_equal_the_full_pass(since):
    """A run from a later day measures each token's first move there from its last price
    before (from D3, U1's D1 price: it has none on D2) and counts the members that entered
    before it."""
    _hand_universe()
    universe_days_update(today=LATER)
    UniverseDay.objects.filter(date__gte=D[since]).update(moves_sum=99.0, members=99)

    assert universe_days_update(since=D[since], today=LATER) == 5 - since

    _close(_stored(), HAND_DAYS)


def test_update_computes_only_the_missing_and_recent_days():
    token = TokenFactory()
    _rate(token, 0)
    _prices(token, {n: str(10 + n) for n in range(30)})
    today = D[30]
    assert universe_days_update(today=today) == 30  # nothing stored: D0 … D29
    first_computed = dict(UniverseDay.objects.values_list("date", "computed_at"))

    # The window: the REVISION_WINDOW_DAYS before today (D20 … D29); nothing else.
    assert universe_days_update(today=today) == REVISION_WINDOW_DAYS
    again = dict(UniverseDay.objects.values_list("date", "computed_at"))
    assert [day for day in again if again[day] != first_computed[day]] == D[20:30]

    # A new day's price, a day later: the window moves on and D30 is added.
    _prices(token, {30: "40"})
    assert universe_days_update(today=D[31]) == REVISION_WINDOW_DAYS
    assert UniverseDay.objects.get(date=D[30]).moves_sum == pytest.approx(40 / 39 - 1, rel=1e-12)

    # Days missing since a long pause are computed, however far back.
    _prices(token, {n: str(10 + n) for n in range(31, 40)})
    assert universe_days_update(today=D[39] + dt.timedelta(days=30)) == 9  # D31 … D39
    assert UniverseDay.objects.count() == 40


def test_a_revised_price_within_the_window_is_picked_up_and_an_older_one_with_since():
    u1, u2, _, _ = _hand_universe()
    universe_days_update(today=LATER)

    PriceDay.objects.filter(token=u2, date=D[4]).update(price_usd=Decimal("9"))  # 3 → 9: +0.5, not −0.5
    universe_days_update(today=D[4] + dt.timedelta(days=REVISION_WINDOW_DAYS))
    assert _stored()[D[4]] == (pytest.approx(0.5), 3)

    PriceDay.objects.filter(token=u1, date=D[1]).update(price_usd=Decimal("15"))  # D1: 0.5; D3: 6/15−1
    today = D[1] + dt.timedelta(days=REVISION_WINDOW_DAYS + 1)  # D1 is out of the window
    universe_days_update(today=today)
    assert _stored()[D[1]] == (pytest.approx(0.2), 2)
    universe_days_update(since=D[1], today=today)
    assert _stored()[D[1]] == (pytest.approx(0.5), 2)
    assert _stored()[D[3]] == (pytest.approx(6 / 15 - 1 + 0.25), 3)


def test_days_with_no_data_any_more_are_deleted_on_a_full_rebuild():
    u1 = _hand_universe()[0]
    universe_days_update(today=LATER)
    PriceDay.objects.filter(date=D[4]).delete()
    Rating.objects.filter(token=u1).delete()

    universe_days_update(since=EVERY_DAY, today=LATER)

    # U2 from D1, U4 from D2; D3: U2 0, U4 0.25.
    _close(_stored(), {D[1]: (0.0, 1), D[2]: (0.2, 2), D[3]: (0.25, 2)})


def test_update_costs_the_same_queries_for_more_tokens_and_days():
    def queries(tokens: int, days: int) -> int:
        UniverseDay.objects.all().delete()
        for token in TokenFactory.create_batch(tokens):
            _rate(token, 0)
            _prices(token, {n: str(10 + n) for n in range(days)})
        with CaptureQueriesContext(connection) as ctx:
            universe_days_update(today=LATER)
        return len(ctx.captured_queries)

    assert queries(1, 3) == queries(6, 12)


def test_reading_days_starts_at_the_close_before_and_is_one_query(django_assert_num_queries):
    _hand_universe()
    universe_days_update(today=LATER)

    with django_assert_num_queries(1):
        assert [u.date for u in universe_days(since=D[2])] == D[1:5]
    assert [u.date for u in universe_days(since=D[0])] == D[0:5]  # nothing stored before D0
    assert [u.date for u in universe_days(since=D[9])] == [D[4]]  # beyond: the newest day's members


def test_a_ratings_backfill_stores_the_universe_days():
    rated_universe()

    ratings_backfill(start=END - dt.timedelta(days=5), end=END)

    stored = _stored()
    # Each token's ratings start on END − 5: in the universe from that day's close.
    assert list(stored) == [END - dt.timedelta(days=n) for n in range(5, -1, -1)]
    assert {members for _, members in stored.values()} == {5}
    UniverseDay.objects.all().delete()
    universe_days_update(since=EVERY_DAY)
    _close(_stored(), stored)


def test_rebuild_command_computes_every_day_again_or_from_a_day():
    _hand_universe()
    universe_days_update(today=LATER)
    UniverseDay.objects.update(moves_sum=99.0, members=99)
    out = io.StringIO()

    call_command("rebuild_universe_days", "--since", D[3].isoformat(), stdout=out)
    assert _stored()[D[2]] == (99.0, 99) and _stored()[D[3]] == (pytest.approx(-0.25), 3)
    call_command("rebuild_universe_days", stdout=out)
    _close(_stored(), HAND_DAYS)
    assert "Stored 5 days" in out.getvalue()


def test_rebuild_command_refuses_a_bad_date_and_changes_nothing():
    _hand_universe()
    universe_days_update(today=LATER)
    before = _stored()

    with pytest.raises(CommandError, match="Not a date"):
        call_command("rebuild_universe_days", "--since", "2026-13-01")
    assert _stored() == before
