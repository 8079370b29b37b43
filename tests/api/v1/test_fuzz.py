"""Whatever a caller puts in the query string, the read endpoints answer 2xx or 4xx, never 500."""

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
URLS = ["/api/v1/tokens/", "/api/v1/tokens/hype/", "/api/v1/tokens/hype/prices/", "/api/v1/ratings/"]
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
