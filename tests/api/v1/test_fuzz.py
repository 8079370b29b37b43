"""Whatever a caller puts in the query string or a write's body, the API answers 2xx or 4xx, never 500."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.tokens.selectors import SCREENER_RANGE_FIELDS
from tests.factories import MetricSnapshotFactory, PriceDayFactory

pytestmark = pytest.mark.django_db

PARAMS = [
    "search",
    "category",
    "chain",
    "ordering",
    "as_of",
    "start",
    "end",
    "cursor",
    "page_size",
    "grade",
    "band",
    "format",
    *(f"{name}_{end}" for name in sorted(SCREENER_RANGE_FIELDS)[:4] for end in ("min", "max")),
]
URLS = [
    "/api/v1/tokens/",
    "/api/v1/tokens/hype/",
    "/api/v1/tokens/hype/prices/",
    "/api/v1/ratings/",
    "/api/v1/watchlists/",
    "/api/v1/alert-rules/",
    "/api/v1/briefings/",
]
AWKWARD = [
    "",
    "-",
    "NaN",
    "-Infinity",
    "1e999999999",
    "csv",
    "-ps",
    "2026-02-30",
    "0001-01-01",
    "9999-12-31",
    "\x00",
    "%",
]
values = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(max_size=30),
    st.dates().map(str),
    st.integers(min_value=-(10**30), max_value=10**30).map(str),
)


@pytest.fixture
def data():
    snapshot = MetricSnapshotFactory(token__slug="hype")
    PriceDayFactory(token=snapshot.token)


def test_no_awkward_value_in_any_parameter_makes_a_500(api, data):
    for url, name, value in itertools.product(URLS, PARAMS, AWKWARD):
        response = api.get(url, {name: value})
        assert response.status_code < 500, (url, name, value)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(url=st.sampled_from(URLS), params=st.dictionaries(st.sampled_from(PARAMS), values, max_size=4))
def test_no_query_string_makes_a_500(api, data, url, params):
    response = api.get(url, params)
    assert response.status_code < 500, (url, params, response.content[:300])


json_values = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from(AWKWARD),
        st.text(max_size=30),
    ),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=5,
)
WRITE_FIELDS = ["name", "token", "watchlist", "kind", "threshold", "direction", "delivery", "is_active"]
bodies = st.one_of(st.dictionaries(st.sampled_from(WRITE_FIELDS), json_values, max_size=5), json_values)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["watchlists", "tokens", "rules", "rule", "watchlist"]), payload=bodies)
def test_no_write_body_makes_a_500(writer, reader, data, target, payload):
    from apps.watchlists.models import AlertKind, AlertRule, Watchlist

    # Examples share the database: an earlier one may have renamed the list or changed the rule.
    watchlist = Watchlist.objects.filter(user=reader, is_default=True).first() or Watchlist.objects.create(
        user=reader, name="Fuzz", is_default=True
    )
    rule = AlertRule.objects.filter(user=reader).first() or AlertRule.objects.create(
        user=reader, kind=AlertKind.PRICE_MOVE, threshold=5, watchlist=watchlist
    )
    method, url = {
        "watchlists": ("post", "/api/v1/watchlists/"),
        "tokens": ("post", f"/api/v1/watchlists/{watchlist.pk}/tokens/"),
        "rules": ("post", "/api/v1/alert-rules/"),
        "rule": ("patch", f"/api/v1/alert-rules/{rule.pk}/"),
        "watchlist": ("patch", f"/api/v1/watchlists/{watchlist.pk}/"),
    }[target]
    response = getattr(writer, method)(url, payload, content_type="application/json")
    assert response.status_code < 500, (url, payload, response.content[:300])
