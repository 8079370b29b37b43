"""The reprice computed by PostgreSQL (snapshots._reprice_sql) gives the same digits as the
one assembled in Python (snapshots._reprice_in_python, through metrics.py), for figures
drawn across their whole range: ties at the places a column keeps, values just beside
them, zeros, negatives, missing inputs, revenue at the edge of its freshness, events of
every kind inside and outside their windows, and figures too large for their columns."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.tokens import snapshots
from apps.tokens.models import AccrualEvent, MetricSnapshot, PriceDay, Source, Token
from apps.tokens.snapshots import SNAPSHOT_FIELDS

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 10)
NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _postgresql_only():
    if connection.vendor != "postgresql":
        pytest.skip("the SQL reprice runs on PostgreSQL only")


def _money(low="0", high="1e12"):
    return st.decimals(min_value=D(low), max_value=D(high), places=4, allow_nan=False, allow_infinity=False)


money = st.one_of(
    st.none(),
    st.just(D(0)),
    _money("0.0001", "10"),
    _money(),
    _money("-1000", "0"),
    _money("1e19", "9e21"),  # P/F of a cap this large on tiny fees does not fit a ratio column
)
price = st.one_of(
    st.none(),
    st.just(D(0)),
    st.decimals(min_value=D("1e-18"), max_value=D("10"), places=18),
    st.decimals(min_value=D("1"), max_value=D("1e6"), places=8),
    st.decimals(min_value=D("1e15"), max_value=D("9e17"), places=4),  # × supply overflows an FDV
)
supply = st.one_of(
    st.none(),
    st.just(D(0)),
    st.decimals(min_value=D("1"), max_value=D("1e12"), places=8),
    st.decimals(min_value=D("1e19"), max_value=D("1e23"), places=0),
    st.decimals(min_value=D("-5"), max_value=D("-1"), places=0),
)
ratio = st.one_of(st.none(), st.decimals(min_value=D("-1"), max_value=D("1000"), places=10))

token_spec = st.fixed_dictionaries(
    {
        "max_supply": supply,
        "total_supply": supply,
        "price": price,
        "market_cap": money,
        "fdv": money,
        "volume": money,
        "week": st.one_of(st.none(), price),
        "month": st.one_of(st.none(), price),
        "fees": money,
        "revenue": money,
        "holders": money,
        "growth_30d": ratio,
        "growth_90d": ratio,
        # revenue as of this many days before the day: fresh up to 6, dropped from 7
        "revenue_lag": st.one_of(st.none(), st.integers(min_value=0, max_value=9)),
        "buybacks": st.lists(st.tuples(st.integers(min_value=-35, max_value=3), money), max_size=3),
        "burns": st.lists(
            st.tuples(st.integers(min_value=-40, max_value=3), st.one_of(st.none(), _money("-10", "1e9"))),
            max_size=3,
        ),
        # Events of any kind with both amounts: buy-and-burns count as buybacks and as burns,
        # a fee burn's or a distribution's USD amount is no buyback.
        "events": st.lists(
            st.tuples(
                st.sampled_from(AccrualEvent.Kind.values),
                st.integers(min_value=-40, max_value=3),
                money,
                st.one_of(st.none(), _money("0", "1e9")),
            ),
            max_size=3,
        ),
    }
)


def _store(specs: list[dict]) -> list[int]:
    ids = []
    for n, spec in enumerate(specs):
        token = Token.objects.create(
            slug=f"t-{n}",
            symbol=f"T{n}",
            name=f"T {n}",
            coingecko_id=f"cg-{n}",
            max_supply=spec["max_supply"],
            total_supply=spec["total_supply"],
        )
        prices = [(DAY, spec["price"], spec["market_cap"], spec["fdv"], spec["volume"])]
        for days, value in ((7, spec["week"]), (30, spec["month"])):
            if value is not None or days == 7:
                prices.append((DAY - dt.timedelta(days=days), value, None, None, None))
        for day, price_usd, cap, fdv, volume in prices:
            PriceDay.objects.create(
                token=token, date=day, price_usd=price_usd, market_cap_usd=cap, fdv_usd=fdv, volume_usd=volume,
                observed_at=dt.datetime.combine(day, dt.time(0, 5), tzinfo=dt.UTC), source=Source.COINGECKO,
                fetched_at=NOW,
            )  # fmt: skip
        lag = spec["revenue_lag"]
        carried = MetricSnapshot.objects.create(
            token=token, date=DAY - dt.timedelta(days=1), fees_30d=spec["fees"], revenue_30d=spec["revenue"],
            holders_revenue_30d=spec["holders"], revenue_growth_30d=spec["growth_30d"],
            revenue_growth_90d=spec["growth_90d"], revenue_source=Source.DEFILLAMA if lag is not None else "",
            revenue_as_of=(
                None if lag is None else dt.datetime.combine(DAY - dt.timedelta(days=lag), dt.time(), tzinfo=dt.UTC)
            ),
            computed_at=NOW,
        )  # fmt: skip
        Token.objects.filter(pk=token.pk).update(latest_snapshot=carried)
        events = [(AccrualEvent.Kind.BUYBACK, offset, amount, None) for offset, amount in spec["buybacks"]]
        events += [(AccrualEvent.Kind.BURN, offset, None, amount) for offset, amount in spec["burns"]]
        events += spec.get("events", [])
        for i, (kind, offset, usd, tokens) in enumerate(events):
            AccrualEvent.objects.create(
                token=token, date=DAY + dt.timedelta(days=offset), kind=kind, usd_amount=usd, token_amount=tokens,
                reference=str(i), source=Source.EDITOR, fetched_at=NOW,
            )  # fmt: skip
        ids.append(token.pk)
    return ids


def _rows(ids: list[int]) -> dict[int, tuple]:
    return {
        row[0]: row[1:]
        for row in MetricSnapshot.objects.filter(token_id__in=ids, date=DAY).values_list("token_id", *SNAPSHOT_FIELDS)
    }


def _both(ids: list[int], *, scoped: bool = True) -> tuple[dict, dict]:
    """The day's snapshots repriced in SQL, then (from the same state) in Python."""
    snapshots.snapshots_reprice(token_ids=ids if scoped else None, day=DAY, computed_at=NOW)
    in_sql = _rows(ids)
    MetricSnapshot.objects.filter(token_id__in=ids, date=DAY).delete()
    snapshots.latest_point_at(ids)
    snapshots._reprice_in_python(ids if scoped else None, DAY, NOW)
    return in_sql, _rows(ids)


def _assert_same(in_sql: dict, in_python: dict) -> None:
    assert set(in_sql) == set(in_python)
    for token_id, row in in_sql.items():
        for name, a, b in zip(SNAPSHOT_FIELDS, row, in_python[token_id], strict=True):
            assert a == b, f"token {token_id} {name}: SQL {a!r}, Python {b!r}"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(token_spec, min_size=1, max_size=6), scoped=st.booleans())
def test_sql_reprice_gives_the_digits_python_gives(specs, scoped):
    with transaction.atomic():
        ids = _store(specs)
        in_sql, in_python = _both(ids, scoped=scoped)
        _assert_same(in_sql, in_python)
        assert len(in_sql) == len(specs)
        transaction.set_rollback(True)


def _base(**changes) -> dict:
    spec = {
        "max_supply": None, "total_supply": D("1000"), "price": D("2"), "market_cap": D("2000"), "fdv": None,
        "volume": D("1"), "week": D("2"), "month": D("2"), "fees": D("10"), "revenue": D("6"), "holders": D("3"),
        "growth_30d": None, "growth_90d": None, "revenue_lag": 1, "buybacks": [], "burns": [],
    }  # fmt: skip
    return {**spec, **changes}


def test_ties_round_half_away_from_zero_in_both():
    """Each figure exactly on a tie at its column's places (x.xxxx…5), and just beside one."""
    tiny = D("0.0001")
    specs = [
        # P/S = 365 × 30 / (61,440 × 365) = 1/2048 = 0.00048828125: a tie at 10 places
        _base(market_cap=D("365"), revenue=D("61440")),
        _base(market_cap=D("365"), revenue=D("61440") - tiny),  # 8e-13 above the tie
        _base(market_cap=D("365"), revenue=D("61440") + tiny),  # 8e-13 below it
        # holders share 1/2048; holder yield 30 × 365 / (747,520 × 30) = 1/2048
        _base(holders=D("1"), revenue=D("2048"), market_cap=D("747520")),
        _base(holders=D("30"), revenue=D("61440"), market_cap=D("747520")),
        # price change (2049 − 2048) / 2048 and (2047 − 2048) / 2048: ties either side of zero
        _base(price=D("2049"), week=D("2048"), month=D("2048")),
        _base(price=D("2047"), week=D("2048"), month=D("2048")),
        # annualised fees 0.0003 × 365 / 30 = 0.00365: a tie at 4 places
        _base(fees=D("0.0003"), revenue=D("0.0003"), holders=D("0.0003")),
        # FDV from supply: 0.00005 × 1 = 0.00005, a tie at 4 places; burned share 1/2048 of max supply
        _base(price=D("0.00005"), max_supply=D("1"), market_cap=D("1")),
        _base(max_supply=D("2048"), burns=[(-3, D("1"))]),
        # buyback yield: 30-day buybacks 30 on a cap of 747,520
        _base(market_cap=D("747520"), buybacks=[(0, D("10")), (-29, D("20")), (-30, D("1000"))]),
    ]
    ids = _store(specs)
    in_sql, in_python = _both(ids)
    _assert_same(in_sql, in_python)
    ps = [in_sql[i][SNAPSHOT_FIELDS.index("ps")] for i in ids[:3]]
    assert ps == [D("0.0004882813"), D("0.0004882813"), D("0.0004882812")]
    share, yield_ = SNAPSHOT_FIELDS.index("holders_share"), SNAPSHOT_FIELDS.index("holder_yield")
    assert in_sql[ids[3]][share] == D("0.0004882813") and in_sql[ids[4]][yield_] == D("0.0004882813")
    change = SNAPSHOT_FIELDS.index("price_change_7d")
    assert [in_sql[ids[5]][change], in_sql[ids[6]][change]] == [D("0.0004882813"), D("-0.0004882813")]
    assert in_sql[ids[7]][SNAPSHOT_FIELDS.index("fees_annualised")] == D("0.0037")
    assert in_sql[ids[8]][SNAPSHOT_FIELDS.index("fdv_usd")] == D("0.0001")
    assert in_sql[ids[9]][SNAPSHOT_FIELDS.index("burned_share")] == D("0.0004882813")
    assert in_sql[ids[10]][SNAPSHOT_FIELDS.index("buybacks_30d")] == D("30")


def test_buy_and_burn_counts_as_a_buyback_and_as_a_burn_in_both():
    """Buyback yield counts tokens bought from the market, held or burned; a fee burn's USD
    value is no buyback, though its tokens count in the burned share."""
    kind = AccrualEvent.Kind
    specs = [
        # bought and burned: 10 + 20 in the window (the −30 one is out), 3 tokens burned
        _base(
            market_cap=D("747520"),
            max_supply=D("2048"),
            events=[
                (kind.BUYBACK_BURN, 0, D("10"), D("1")),
                (kind.BUYBACK_BURN, -29, D("20"), D("1")),
                (kind.BUYBACK_BURN, -30, D("1000"), D("1")),
            ],
        ),
        # held and burned programmes add up
        _base(
            market_cap=D("747520"), events=[(kind.BUYBACK, -1, D("10"), None), (kind.BUYBACK_BURN, -2, D("20"), None)]
        ),
        # a fee burn and a distribution with USD amounts: no buyback
        _base(events=[(kind.BURN, -1, D("500"), D("5")), (kind.DISTRIBUTION, -1, D("70"), None)]),
    ]
    ids = _store(specs)
    in_sql, in_python = _both(ids)
    _assert_same(in_sql, in_python)
    bought, yield_, burned = (SNAPSHOT_FIELDS.index(f) for f in ("buybacks_30d", "buyback_yield", "burned_share"))
    # 30 × 365 / (747,520 × 30) = 1/2048
    assert (in_sql[ids[0]][bought], in_sql[ids[0]][yield_]) == (D("30"), D("0.0004882813"))
    assert in_sql[ids[0]][burned] == D("0.0014648438")  # 3 of 2,048 (1,000-USD one included: burns count to date)
    assert (in_sql[ids[1]][bought], in_sql[ids[1]][yield_]) == (D("30"), D("0.0004882813"))
    assert in_sql[ids[2]][bought] is None and in_sql[ids[2]][yield_] is None
    assert in_sql[ids[2]][burned] == D("0.0049751244")  # 5 of the 1,005 there were before


def test_negative_revenue_is_carried_and_gives_no_multiple_or_holder_yield_in_both():
    specs = [
        _base(fees=D("-30"), revenue=D("-12"), holders=D("-3")),
        _base(fees=D("10"), revenue=D("-6"), holders=D("0")),
    ]
    ids = _store(specs)
    in_sql, in_python = _both(ids)
    _assert_same(in_sql, in_python)
    row = dict(zip(SNAPSHOT_FIELDS, in_sql[ids[0]], strict=True))
    assert (row["fees_annualised"], row["revenue_annualised"], row["holders_revenue_annualised"]) == (
        D("-365"),
        D("-146"),
        D("-36.5"),
    )
    for name in ("pf", "pf_fdv", "ps", "ps_fdv", "phr", "phr_fdv", "holder_yield", "holders_share"):
        assert row[name] is None, name
    row = dict(zip(SNAPSHOT_FIELDS, in_sql[ids[1]], strict=True))
    assert row["pf"] == D("16.4383561644")  # 2,000 × 30 / (10 × 365)
    for name in ("ps", "ps_fdv", "phr", "phr_fdv", "holder_yield", "holders_share"):
        assert row[name] is None, name


def test_revenue_is_carried_for_six_days_and_dropped_on_the_seventh():
    ids = _store([_base(revenue_lag=6), _base(revenue_lag=7)])
    in_sql, in_python = _both(ids)
    _assert_same(in_sql, in_python)
    ps = SNAPSHOT_FIELDS.index("ps")
    assert in_sql[ids[0]][ps] is not None and in_sql[ids[1]][ps] is None


def test_figures_too_large_for_their_columns_are_no_value_in_both():
    ids = _store([_base(market_cap=D("9e21"), fees=D("0.0001"), price=D("9e17"), max_supply=D("1e20"))])
    in_sql, in_python = _both(ids)
    _assert_same(in_sql, in_python)
    row = in_sql[ids[0]]
    assert row[SNAPSHOT_FIELDS.index("pf")] is None and row[SNAPSHOT_FIELDS.index("fdv_usd")] is None


def test_a_later_reprice_writes_only_what_moved_and_matches_python():
    ids = _store([_base(), _base(price=D("3")), _base(market_cap=D("9"))])
    assert snapshots.snapshots_reprice(token_ids=ids, day=DAY, computed_at=NOW) == 3  # the day's first
    later = NOW + dt.timedelta(minutes=15)
    assert snapshots.snapshots_reprice(token_ids=ids, day=DAY, computed_at=later) == 0  # nothing moved
    assert set(MetricSnapshot.objects.filter(date=DAY).values_list("computed_at", flat=True)) == {NOW}

    PriceDay.objects.filter(token_id=ids[1], date=DAY).update(price_usd=D("4"), market_cap_usd=D("4000"))
    MetricSnapshot.objects.filter(token_id=ids[2], date=DAY).delete()  # and one missing: inserted
    snapshots.latest_point_at([ids[2]])  # (its latest is yesterday's again)
    assert snapshots.snapshots_reprice(token_ids=ids, day=DAY, computed_at=NOW) == 2
    in_sql, in_python = _both(ids)  # (the SQL side updates the stored day in place here)
    _assert_same(in_sql, in_python)
    assert in_sql[ids[1]][SNAPSHOT_FIELDS.index("market_cap_usd")] == D("4000")
    assert Token.objects.get(pk=ids[2]).latest_snapshot.date == DAY
