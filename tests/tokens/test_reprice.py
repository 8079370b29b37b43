"""The reprice (snapshots.snapshots_reprice: the price side fresh, the revenue side carried
from each token's latest snapshot) gives the right digits: ties at the places a column
keeps and values just beside them, negatives, revenue at the edge of its freshness, events
of every kind inside and outside their windows, and figures too large for their columns.
That it gives what a full recompute gives is tests/tokens/test_refresh.py's."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest

from apps.tokens import snapshots
from apps.tokens.models import AccrualEvent, MetricSnapshot, PriceDay, Source, Token
from apps.tokens.snapshots import SNAPSHOT_FIELDS

pytestmark = pytest.mark.django_db

DAY = dt.date(2026, 3, 10)
NOW = dt.datetime(2026, 3, 10, 12, tzinfo=dt.UTC)


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


def _repriced(ids: list[int], *, scoped: bool = True) -> dict[int, tuple]:
    snapshots.snapshots_reprice(token_ids=ids if scoped else None, day=DAY, computed_at=NOW)
    return _rows(ids)


def _base(**changes) -> dict:
    spec = {
        "max_supply": None, "total_supply": D("1000"), "price": D("2"), "market_cap": D("2000"), "fdv": None,
        "volume": D("1"), "week": D("2"), "month": D("2"), "fees": D("10"), "revenue": D("6"), "holders": D("3"),
        "growth_30d": None, "growth_90d": None, "revenue_lag": 1, "buybacks": [], "burns": [],
    }  # fmt: skip
    return {**spec, **changes}


def test_ties_round_half_away_from_zero():
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
    rows = _repriced(ids)
    ps = [rows[i][SNAPSHOT_FIELDS.index("ps")] for i in ids[:3]]
    assert ps == [D("0.0004882813"), D("0.0004882813"), D("0.0004882812")]
    share, yield_ = SNAPSHOT_FIELDS.index("holders_share"), SNAPSHOT_FIELDS.index("holder_yield")
    assert rows[ids[3]][share] == D("0.0004882813") and rows[ids[4]][yield_] == D("0.0004882813")
    change = SNAPSHOT_FIELDS.index("price_change_7d")
    assert [rows[ids[5]][change], rows[ids[6]][change]] == [D("0.0004882813"), D("-0.0004882813")]
    assert rows[ids[7]][SNAPSHOT_FIELDS.index("fees_annualised")] == D("0.0037")
    assert rows[ids[8]][SNAPSHOT_FIELDS.index("fdv_usd")] == D("0.0001")
    assert rows[ids[9]][SNAPSHOT_FIELDS.index("burned_share")] == D("0.0004882813")
    assert rows[ids[10]][SNAPSHOT_FIELDS.index("buybacks_30d")] == D("30")


def test_buy_and_burn_counts_as_a_buyback_and_as_a_burn():
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
    rows = _repriced(ids)
    bought, yield_, burned = (SNAPSHOT_FIELDS.index(f) for f in ("buybacks_30d", "buyback_yield", "burned_share"))
    # 30 × 365 / (747,520 × 30) = 1/2048
    assert (rows[ids[0]][bought], rows[ids[0]][yield_]) == (D("30"), D("0.0004882813"))
    assert rows[ids[0]][burned] == D("0.0014648438")  # 3 of 2,048 (1,000-USD one included: burns count to date)
    assert (rows[ids[1]][bought], rows[ids[1]][yield_]) == (D("30"), D("0.0004882813"))
    assert rows[ids[2]][bought] is None and rows[ids[2]][yield_] is None
    assert rows[ids[2]][burned] == D("0.0049751244")  # 5 of the 1,005 there were before


def test_negative_revenue_is_carried_and_gives_no_multiple_or_holder_yield():
    specs = [
        _base(fees=D("-30"), revenue=D("-12"), holders=D("-3")),
        _base(fees=D("10"), revenue=D("-6"), holders=D("0")),
    ]
    ids = _store(specs)
    rows = _repriced(ids)
    row = dict(zip(SNAPSHOT_FIELDS, rows[ids[0]], strict=True))
    assert (row["fees_annualised"], row["revenue_annualised"], row["holders_revenue_annualised"]) == (
        D("-365"),
        D("-146"),
        D("-36.5"),
    )
    for name in ("pf", "pf_fdv", "ps", "ps_fdv", "phr", "phr_fdv", "holder_yield", "holders_share"):
        assert row[name] is None, name
    row = dict(zip(SNAPSHOT_FIELDS, rows[ids[1]], strict=True))
    assert row["pf"] == D("16.4383561644")  # 2,000 × 30 / (10 × 365)
    for name in ("ps", "ps_fdv", "phr", "phr_fdv", "holder_yield", "holders_share"):
        assert row[name] is None, name


def test_revenue_is_carried_for_six_days_and_dropped_on_the_seventh():
    ids = _store([_base(revenue_lag=6), _base(revenue_lag=7)])
    rows = _repriced(ids)
    ps = SNAPSHOT_FIELDS.index("ps")
    assert rows[ids[0]][ps] is not None and rows[ids[1]][ps] is None


def test_figures_too_large_for_their_columns_are_no_value():
    ids = _store([_base(market_cap=D("9e21"), fees=D("0.0001"), price=D("9e17"), max_supply=D("1e20"))])
    rows = _repriced(ids)
    row = rows[ids[0]]
    assert row[SNAPSHOT_FIELDS.index("pf")] is None and row[SNAPSHOT_FIELDS.index("fdv_usd")] is None


def test_a_later_reprice_writes_only_what_moved():
    ids = _store([_base(), _base(price=D("3")), _base(market_cap=D("9"))])
    assert snapshots.snapshots_reprice(token_ids=ids, day=DAY, computed_at=NOW) == 3  # the day's first
    later = NOW + dt.timedelta(minutes=15)
    assert snapshots.snapshots_reprice(token_ids=ids, day=DAY, computed_at=later) == 0  # nothing moved
    assert set(MetricSnapshot.objects.filter(date=DAY).values_list("computed_at", flat=True)) == {NOW}

    PriceDay.objects.filter(token_id=ids[1], date=DAY).update(price_usd=D("4"), market_cap_usd=D("4000"))
    MetricSnapshot.objects.filter(token_id=ids[2], date=DAY).delete()  # and one missing: inserted
    snapshots.latest_point_at([ids[2]])  # (its latest is yesterday's again)
    assert snapshots.snapshots_reprice(token_ids=ids, day=DAY, computed_at=NOW) == 2
    rows = _rows(ids)
    assert rows[ids[1]][SNAPSHOT_FIELDS.index("market_cap_usd")] == D("4000")
    assert Token.objects.get(pk=ids[2]).latest_snapshot.date == DAY
