"""Bulk writes: PostgreSQL compares in SQL (``ON CONFLICT … WHERE … IS DISTINCT FROM``),
other databases read and compare in Python. Both must write exactly the same rows.

GIVEN stored facts
WHEN a batch of new, identical, changed and older rows is upserted
THEN only new and changed rows are written (an older observation of a day never replaces a
newer one), both ways, below and above the COPY threshold; and a whole sample load plus
market refresh through the Python path leaves the database the SQL path leaves.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from django.db import connection

from apps.tokens import bulk, refresh
from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import MetricSnapshot, PriceDay, RevenueDay, Token
from apps.tokens.providers.sample import SampleProvider
from apps.tokens.services import PRICE_VALUES, PROVENANCE, daily_upsert
from tests.factories import TokenFactory

from .sample_builder import write_sample

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
DAY = dt.date(2026, 3, 1)
FIELDS = ["token_id", "date", *PRICE_VALUES, *PROVENANCE]


def _row(token_id: int, day: dt.date, price: str, observed: dt.datetime = T0) -> tuple:
    return (token_id, day, D(price), D("1000"), None, D("5"), observed, "coingecko", None, T0)


@pytest.fixture(params=["sql", "python"])
def path(request, monkeypatch):
    """Force the Python comparison on PostgreSQL too; on SQLite only it exists."""
    if request.param == "sql" and connection.vendor != "postgresql":
        pytest.skip("the SQL comparison is PostgreSQL's")
    if request.param == "python":
        monkeypatch.setattr(bulk, "_upsert_changed_sql", bulk._upsert_changed_python)
    return request.param


@pytest.mark.parametrize("count", [3, bulk.COPY_MIN_ROWS + 20], ids=["values", "copy"])
def test_only_new_and_changed_rows_are_written(path, count):
    tokens = [TokenFactory().pk for _ in range(count)]
    first = [_row(t, DAY, "1.5") for t in tokens]
    assert sorted(daily_upsert(PriceDay, first, PRICE_VALUES)) == sorted((t, DAY) for t in tokens)
    assert daily_upsert(PriceDay, first, PRICE_VALUES) == []  # the same rows again: nothing

    later = T0 + dt.timedelta(hours=1)
    second = [
        _row(tokens[0], DAY, "1.50"),  # the same value written differently: unchanged
        _row(tokens[1], DAY, "2", observed=later),  # a newer quote: written
        _row(tokens[2], DAY, "3", observed=T0 - dt.timedelta(hours=1)),  # older: ignored
        _row(tokens[0], DAY + dt.timedelta(days=1), "4"),  # a new day: inserted
    ]
    written = daily_upsert(PriceDay, second, PRICE_VALUES)
    assert sorted(written) == sorted([(tokens[1], DAY), (tokens[0], DAY + dt.timedelta(days=1))])
    stored = dict(PriceDay.objects.filter(date=DAY).values_list("token_id", "price_usd"))
    assert stored[tokens[1]] == D("2") and stored[tokens[2]] == D("1.5")
    assert PriceDay.objects.get(token_id=tokens[1], date=DAY).observed_at == later


def test_values_are_rounded_as_the_column_stores_them(path):
    if connection.vendor == "sqlite":
        pytest.skip("SQLite keeps a decimal column as a 15-digit float, not 18 places")
    token = TokenFactory().pk
    daily_upsert(PriceDay, [_row(token, DAY, "0.1234567890123456789")], PRICE_VALUES)
    # 18 places kept: a re-fetch of the same over-precise quote compares equal.
    assert daily_upsert(PriceDay, [_row(token, DAY, "0.1234567890123456789")], PRICE_VALUES) == []
    assert PriceDay.objects.get(token_id=token).price_usd == D("0.123456789012345679")


def test_update_rows_writes_the_named_fields_by_primary_key():
    tokens = [TokenFactory(circulating_supply=D(1)) for _ in range(bulk.COPY_MIN_ROWS + 1)]
    bulk.update_rows(Token, ["id", "circulating_supply"], [(t.pk, D(i)) for i, t in enumerate(tokens)])
    assert [t.circulating_supply for t in Token.objects.order_by("pk")] == [D(i) for i in range(len(tokens))]


def _state() -> dict:
    """Facts, snapshots and token pointers by natural key (ids and run times differ per load)."""
    skip = {"id", "token", "sync_run", "fetched_at", "computed_at"}
    state = {}
    for model in (PriceDay, RevenueDay, MetricSnapshot):
        fields = [f.name for f in model._meta.concrete_fields if f.name not in skip]
        state[model.__name__] = sorted(map(repr, model.objects.values_list("token__slug", *fields)))
    state["Token"] = sorted(
        Token.objects.values_list("slug", "circulating_supply", "total_supply", "latest_snapshot__date")
    )
    return state


def test_a_load_and_market_refresh_leave_the_same_database_either_way(tmp_path, monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("compares PostgreSQL's SQL path with the Python path")
    provider = SampleProvider(write_sample(tmp_path / "sample"))

    def load_and_refresh() -> dict:
        sample_data_load(provider=provider)
        PriceDay.objects.filter(date=DAY).update(price_usd=D("12.5"), observed_at=T0 - dt.timedelta(hours=1))
        refresh.market_refresh(provider=provider)
        return _state()

    with_sql = load_and_refresh()
    Token.objects.all().delete()
    monkeypatch.setattr(bulk, "_upsert_changed_sql", bulk._upsert_changed_python)
    monkeypatch.setattr(connection, "vendor", "sqlite")  # every vendor branch takes the portable path
    with_python = load_and_refresh()
    assert with_python == with_sql


def test_links_without_database_constraints_still_clear_on_delete(tmp_path):
    """Token.latest_snapshot and every fact's sync_run have no database constraint (each
    would be checked for every row at commit); Django's SET_NULL keeps them honest."""
    from apps.tokens.models import SyncRun

    sample_data_load(provider=SampleProvider(write_sample(tmp_path / "sample")))
    token = Token.objects.exclude(latest_snapshot=None).first()
    MetricSnapshot.objects.filter(pk=token.latest_snapshot_id).delete()
    assert Token.objects.get(pk=token.pk).latest_snapshot_id is None

    run_id = PriceDay.objects.exclude(sync_run=None).values_list("sync_run", flat=True).first()
    SyncRun.objects.get(pk=run_id).delete()
    assert not PriceDay.objects.filter(sync_run_id=run_id).exists()
    assert PriceDay.objects.filter(sync_run=None).exists()


def test_insert_new_in_binary_stores_what_text_stores(monkeypatch):
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    tokens = [TokenFactory().pk for _ in range(3)]
    values = [("1.5", None), ("0.000000000000000001", D("12.3456")), ("123456789.123456789012345678", D("0"))]

    def rows(day):
        return [
            (t, day, D(price), D("1000.0001"), fdv, None, T0, "coingecko", None, T0)
            for t, (price, fdv) in zip(tokens, values, strict=True)
        ]

    assert bulk._binary_types(PriceDay, FIELDS) is not None
    bulk.insert_new(PriceDay, FIELDS, rows(DAY))
    monkeypatch.setattr(bulk, "_binary_types", lambda *_: None)  # COPY to text
    bulk.insert_new(PriceDay, FIELDS, rows(DAY + dt.timedelta(days=1)))
    stored = {}
    for row in PriceDay.objects.filter(token_id__in=tokens).values_list("date", "token_id", *PRICE_VALUES, "source"):
        stored.setdefault(row[0], []).append(row[1:])
    assert sorted(stored[DAY]) == sorted(stored[DAY + dt.timedelta(days=1)])
    assert len(stored[DAY]) == 3


def test_any_lookup_matches_in_on_every_database():
    """``field__any`` (one array parameter on PostgreSQL, an IN list elsewhere) selects what
    ``field__in`` selects, an empty list nothing, and works across a foreign key's column."""
    tokens = TokenFactory.create_batch(4)
    wanted = [tokens[0].pk, tokens[2].pk, 10**9]
    assert sorted(Token.objects.filter(pk__any=wanted).values_list("pk", flat=True)) == sorted(
        Token.objects.filter(pk__in=wanted).values_list("pk", flat=True)
    )
    assert list(Token.objects.filter(pk__any=[])) == []
    day = dt.date(2026, 3, 1)
    for token in tokens:
        moment = dt.datetime(2026, 3, 2, tzinfo=dt.UTC)
        PriceDay.objects.create(
            token=token, date=day, price_usd=1, observed_at=moment, source="coingecko", fetched_at=moment
        )
    assert set(PriceDay.objects.filter(token_id__any=wanted).values_list("token_id", flat=True)) == set(wanted[:2])
