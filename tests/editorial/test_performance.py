"""The Top 10 lists' performance record: holdings from revisions, each holding's change, the
list's equal-weighted daily index (dropped tokens held to their exit) and the universe's."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from apps.editorial.performance import Holding, memberships, record, records
from apps.ratings.models import Rating
from apps.ratings.selectors import VERSION
from apps.ratings.universe_days import universe_days_update
from tests.factories import PriceDayFactory, TokenFactory

D = [dt.date(2026, 3, 1) + dt.timedelta(days=n) for n in range(10)]  # D[0] … D[9]


def _prices(token, by_day: dict[int, str]) -> None:
    for n, price in by_day.items():
        PriceDayFactory(token=token, date=D[n], price_usd=Decimal(price))


def _rate(token, n: int) -> None:
    Rating.objects.create(
        token=token, date=D[n], methodology_version=VERSION, fingerprint="f", computed_at=timezone.now()
    )


def _close(series: list[float], expected: list[float]) -> None:
    assert series == pytest.approx(expected, rel=1e-12)


# --- memberships ---------------------------------------------------------------------------


def test_memberships_open_close_and_rejoin():
    holdings = memberships([(D[0], [1, 2]), (D[2], [1]), (D[4], [1, 2, 3])])
    assert holdings == [
        Holding(1, D[0], None),
        Holding(2, D[0], D[2]),
        Holding(2, D[4], None),  # back on the list: a second holding
        Holding(3, D[4], None),
    ]


def test_memberships_archived_end_closes_open_holdings():
    holdings = memberships([(D[0], [1, 2]), (D[2], [1])], end=D[5])
    assert holdings == [Holding(1, D[0], D[5]), Holding(2, D[0], D[2])]


def test_token_added_and_dropped_the_same_day_was_never_held():
    assert memberships([(D[0], [1]), (D[1], [1, 2]), (D[1], [1])]) == [Holding(1, D[0], None)]


def test_memberships_refuse_revisions_out_of_order_or_an_end_before_them():
    with pytest.raises(ValueError, match="out of order"):
        memberships([(D[2], [1]), (D[1], [1])])
    with pytest.raises(ValueError, match="before its last revision"):
        memberships([(D[2], [1])], end=D[1])


# --- one list, by hand ---------------------------------------------------------------------


@pytest.mark.django_db
def test_list_record_with_an_exit_and_an_entry_by_hand():
    """Published D0 with A and B; on D3 B is dropped and C joins. End D6."""
    a, b, c = TokenFactory.create_batch(3)
    _prices(a, {0: "10", 1: "11", 2: "11", 3: "12", 4: "12", 5: "15", 6: "15"})
    _prices(b, {0: "20", 1: "18", 2: "24", 3: "30", 4: "15", 5: "15", 6: "60"})  # after D3: not held
    _prices(c, {0: "5", 1: "5", 2: "5", 3: "4", 4: "5", 5: "6", 6: "5"})
    holdings = memberships([(D[0], [a.id, b.id]), (D[3], [a.id, c.id])])

    result = record(holdings, start=D[0], end=D[6])

    # Daily mean of the held tokens' returns, chained from 1 on D0:
    # D1: A 11/10−1 = 0.1, B 18/20−1 = −0.1          → 0        → 1
    # D2: A 0, B 24/18−1 = 1/3                         → 1/6      → 7/6
    # D3: A 12/11−1 = 1/11, B 30/24−1 = 1/4 (B counts on its exit day) → 15/88 → 7/6 × 103/88 = 721/528
    # D4: A 0, C 5/4−1 = 1/4 (B gone, C in since D3's close) → 1/8 → 721/528 × 9/8 = 6489/4224
    # D5: A 15/12−1 = 1/4, C 6/5−1 = 1/5               → 9/40     → × 49/40 = 317961/168960
    # D6: A 0, C 5/6−1 = −1/6                          → −1/12    → × 11/12 = 3497571/2027520
    assert result.days == D[:7]
    _close(result.list_index, [1, 1, 7 / 6, 721 / 528, 6489 / 4224, 317961 / 168960, 3497571 / 2027520])
    # 3497571/2027520 − 1 = 14849/20480 = 0.725048828125, to 10 places:
    assert result.list_return == Decimal("0.7250488281")
    assert result.as_of == D[6]
    # Each holding: end price ÷ entry price − 1 (B's end price is its exit day's close).
    got = {(h.token_id, h.joined): (h.start_price, h.end_price, h.change, h.as_of) for h in result.holdings.values()}
    assert got == {
        (a.id, D[0]): (Decimal("10"), Decimal("15"), Decimal("0.5"), D[6]),  # 15/10 − 1
        (b.id, D[0]): (Decimal("20"), Decimal("30"), Decimal("0.5"), D[3]),  # 30/20 − 1, not 60/20 − 1
        (c.id, D[3]): (Decimal("4"), Decimal("5"), Decimal("0.25"), D[6]),  # 5/4 − 1
    }
    # No rated token: the universe did nothing to measure.
    assert result.universe_return is None
    assert result.universe_index == [1.0] * 7


@pytest.mark.django_db
def test_rejoining_token_counts_only_while_held():
    """A and B from D0; B dropped on D1 and back on D3. B's jump on D2–D3 is not the list's."""
    a, b = TokenFactory.create_batch(2)
    _prices(a, {0: "10", 1: "10", 2: "10", 3: "10", 4: "20"})
    _prices(b, {0: "10", 1: "5", 2: "50", 3: "100", 4: "50"})
    holdings = memberships([(D[0], [a.id, b.id]), (D[1], [a.id]), (D[3], [a.id, b.id])])

    result = record(holdings, start=D[0], end=D[4])

    # D1: A 0, B 5/10−1 = −1/2 → −1/4 → 3/4; D2, D3: A alone, 0 → 3/4;
    # D4: A 20/10−1 = 1, B 50/100−1 = −1/2 → 1/4 → 3/4 × 5/4 = 15/16
    _close(result.list_index, [1, 0.75, 0.75, 0.75, 15 / 16])
    assert result.list_return == Decimal("-0.0625")
    assert result.holdings[b.id, D[0]].change == Decimal("-0.5")  # 5/10 − 1, exit D1
    assert result.holdings[b.id, D[3]].change == Decimal("-0.5")  # 50/100 − 1
    assert result.holdings[a.id, D[0]].change == Decimal("1")


@pytest.mark.django_db
def test_missing_prices_carry_the_last_known_price():
    """A has no price on D2 or D3: it moved 0 those days and its D4 price is measured from D1's."""
    a, b = TokenFactory.create_batch(2)
    _prices(a, {0: "10", 1: "8", 4: "12"})
    _prices(b, {0: "10", 1: "10", 2: "10", 3: "10", 4: "10", 5: "10"})
    holdings = memberships([(D[0], [a.id, b.id])])

    result = record(holdings, start=D[0], end=D[5])

    # D1: A 8/10−1 = −0.2, B 0 → −0.1 → 0.9; D2, D3: A carried at 8, 0 → 0.9;
    # D4: A 12/8−1 = 0.5 → 0.25 → 1.125; D5: A carried at 12 → 1.125
    _close(result.list_index, [1, 0.9, 0.9, 0.9, 1.125, 1.125])
    assert result.list_return == Decimal("0.125")
    assert result.holdings[a.id, D[0]].change == Decimal("0.2")  # 12/10 − 1, D4's price carried to D5
    assert result.holdings[a.id, D[0]].as_of == D[4]
    assert result.as_of == D[5]


@pytest.mark.django_db
def test_token_without_an_entry_price_has_no_change_and_counts_once_priced():
    """B joins on D0 but is first priced on D2: no change; in the index from D3."""
    a, b = TokenFactory.create_batch(2)
    _prices(a, {0: "10", 1: "10", 2: "10", 3: "10"})
    _prices(b, {2: "4", 3: "6"})
    holdings = memberships([(D[0], [a.id, b.id])])

    result = record(holdings, start=D[0], end=D[3])

    # D1, D2: A alone (B has no price on the day before) → 1; D3: A 0, B 6/4−1 = 1/2 → 1/4 → 1.25
    _close(result.list_index, [1, 1, 1, 1.25])
    held = result.holdings[b.id, D[0]]
    assert (held.start_price, held.change) == (None, None)
    assert result.list_return == Decimal("0.25")


@pytest.mark.django_db
def test_token_never_priced_gives_no_return():
    token = TokenFactory()
    result = record(memberships([(D[0], [token.id])]), start=D[0], end=D[3])
    assert result.list_return is None
    assert result.as_of is None
    assert result.holdings[token.id, D[0]].change is None


@pytest.mark.django_db
def test_archived_list_is_flat_after_its_end():
    """Archived on D2: its holdings exit at D2's close; later days return 0."""
    a = TokenFactory()
    _prices(a, {0: "10", 1: "12", 2: "15", 3: "30", 4: "30"})
    holdings = memberships([(D[0], [a.id])], end=D[2])

    result = record(holdings, start=D[0], end=D[4])

    _close(result.list_index, [1, 1.2, 1.5, 1.5, 1.5])  # 12/10, 15/12; D3's doubling not held
    assert result.list_return == Decimal("0.5")
    assert result.holdings[a.id, D[0]].change == Decimal("0.5")
    assert result.holdings[a.id, D[0]].as_of == D[2]


# --- the universe --------------------------------------------------------------------------


def _universe():
    """U1 rated D0 (no price D2); U2 rated D1; U3 never rated; U4 rated D0, first priced D2."""
    u1, u2, u3, u4 = TokenFactory.create_batch(4)
    _prices(u1, {0: "10", 1: "12", 3: "6", 4: "6"})
    _prices(u2, {0: "4", 1: "5", 2: "6", 3: "6", 4: "3"})
    _prices(u3, {0: "1", 1: "2", 2: "3", 3: "4", 4: "5"})
    _prices(u4, {2: "8", 3: "10", 4: "10"})
    for token, n in ((u1, 0), (u1, 3), (u2, 1), (u4, 0)):
        _rate(token, n)
    universe_days_update()
    return u1, u2, u3, u4


@pytest.mark.django_db
def test_universe_is_the_equal_weighted_rated_tokens_from_the_day_after_their_rating():
    _universe()

    result = record([], start=D[0], end=D[4])

    # Members on day d: rated on d−1 or before, priced on d−1 or before.
    # D1: U1 12/10−1 = 0.2                                  → 0.2    → 1.2
    # D2: U1 carried 0, U2 6/5−1 = 0.2                      → 0.1    → 1.32
    # D3: U1 6/12−1 = −0.5, U2 0, U4 10/8−1 = 0.25          → −1/12  → 1.21
    # D4: U1 0, U2 3/6−1 = −0.5, U4 0                       → −1/6   → 1.21 × 5/6 = 121/120
    _close(result.universe_index, [1, 1.2, 1.32, 1.21, 121 / 120])
    assert result.universe_return == Decimal("0.0083333333")
    # From D2: D3 × 11/12, D4 × 5/6 = 55/72; 55/72 − 1 = −0.236111…
    later = record([], start=D[2], end=D[4])
    _close(later.universe_index, [1, 11 / 12, 55 / 72])
    assert later.universe_return == Decimal("-0.2361111111")
    # On its publication day a list's universe has members but no move yet: 0, not "—".
    assert record([], start=D[4], end=D[4]).universe_return == Decimal("0")


@pytest.mark.django_db
def test_universe_move_across_the_month_it_starts_from_uses_the_price_before():
    """The series is read from the first of the list's month: a token priced last on 27
    February and next on 2 March moved 15/10 − 1 on 2 March, not from nothing."""
    token = TokenFactory()
    Rating.objects.create(
        token=token, date=dt.date(2026, 2, 20), methodology_version=VERSION, fingerprint="f", computed_at=timezone.now()
    )
    PriceDayFactory(token=token, date=dt.date(2026, 2, 27), price_usd=Decimal("10"))
    PriceDayFactory(token=token, date=D[1], price_usd=Decimal("15"))
    universe_days_update()

    result = record([], start=D[0], end=D[1])

    _close(result.universe_index, [1, 1.5])
    assert result.universe_return == Decimal("0.5")


@pytest.mark.django_db
def test_universe_is_flat_over_days_not_stored_yet():
    """Prices of D5 and D6 arrived after the universe's days were stored: no move those days."""
    u1 = _universe()[0]
    _prices(u1, {5: "60", 6: "600"})

    result = record(memberships([(D[3], [u1.id])]), start=D[3], end=D[6])

    assert result.days == D[3:7]
    _close(result.universe_index, [1, 5 / 6, 5 / 6, 5 / 6])
    universe_days_update(today=D[7])  # the next ratings recompute: on D5 U1 60/6 − 1 = 9, ÷ 3
    later = record(memberships([(D[3], [u1.id])]), start=D[3], end=D[6])
    _close(later.universe_index, [1, 5 / 6, 5 / 6 * 4, 5 / 6 * 4 * 4])


@pytest.mark.django_db
def test_record_refuses_an_end_before_publication():
    with pytest.raises(ValueError, match="after the record's end"):
        record([], start=D[3], end=D[2])


# --- many lists ----------------------------------------------------------------------------


def _lists(count: int, size: int) -> dict[int, tuple[list[Holding], dt.date]]:
    lists = {}
    for list_id in range(count):
        tokens = TokenFactory.create_batch(size + 2)
        for token in tokens:
            _prices(token, {n: str(10 + n + list_id) for n in range(6)})
        ids = [t.id for t in tokens]
        revisions = [(D[0], ids[:size]), (D[2], ids[1 : size + 1]), (D[4], ids[2:])]
        lists[list_id] = (memberships(revisions), D[0])
    return lists


@pytest.mark.django_db
def test_records_query_count_is_flat_in_lists_and_revisions(django_assert_num_queries):
    _universe()
    small, large = _lists(1, 2), _lists(5, 6)
    # The prices and the universe's stored days.
    for lists in (small, large):
        with django_assert_num_queries(2):
            result = records(lists, end=D[5])
        assert set(result) == set(lists)
    # Every list was measured on its own holdings.
    assert all(r.list_return is not None for r in result.values())
    assert len(result[4].holdings) == 8  # each of its 8 tokens held once
