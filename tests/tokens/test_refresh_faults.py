"""Refreshes through the live clients against a real server on 127.0.0.1 that injects
faults. Each ends with the database unchanged or correctly updated, the run recorded with
its reason, retries bounded, and the circuit opening after repeated failure."""

import json
import threading

import pytest

from apps.tokens import history, refresh
from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import MetricSnapshot, PriceDay, RevenueDay, SyncRun, Token
from apps.tokens.providers.coingecko import CoinGeckoClient
from apps.tokens.providers.defillama import DefiLlamaClient
from apps.tokens.providers.sample import SampleProvider
from apps.tokens.providers.shared_state import Circuit, MonthlyQuota
from tests.support.data_set import hold

from .test_ingestion import database_state

pytestmark = pytest.mark.django_db

MAX_ATTEMPTS = 3


class FakeClock:
    def __init__(self):
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


@pytest.fixture
def loaded(data_dir):
    """The recorded data loaded, and taken as live data: the live clients refresh it."""
    sample_data_load(provider=SampleProvider(data_dir))
    hold("live")


@pytest.fixture
def clock():
    return FakeClock()


def client_options(clock, **extra):
    return {
        "sleep": clock.sleep,
        "max_attempts": MAX_ATTEMPTS,
        "read_timeout": 0.3,
        "connect_timeout": 0.5,
        "circuit": extra.pop("circuit", None),
        **extra,
    }


def coingecko(server, clock, **extra):
    return CoinGeckoClient(f"{server.url}/cg", None, **client_options(clock, **extra))


def defillama(server, clock, **extra):
    return DefiLlamaClient(f"{server.url}/llama", None, **client_options(clock, **extra))


def facts_state():
    state = database_state()
    state.pop("SyncRun")
    return state


def market_requests(server):
    return [p for p in server.requests if p.startswith("/cg/coins/markets")]


def test_429_with_retry_after_waits_then_updates(loaded, server, clock):
    server.inject("/cg/coins/markets", ("429", 30))
    PriceDay.objects.filter(date="2026-03-01").update(price_usd=1)  # upstream has 10: an update is due
    result = refresh.market_refresh(provider=coingecko(server, clock))
    assert result.run.status == SyncRun.Status.SUCCEEDED
    assert clock.sleeps and clock.sleeps[0] >= 30
    assert result.run.retries == 1
    assert PriceDay.objects.get(token__slug="alpha", date="2026-03-01").price_usd == 10


@pytest.mark.parametrize("fault", [500, "html", "reset"])
def test_persistent_failure_is_retried_a_bounded_number_of_times_and_writes_nothing(loaded, server, clock, fault):
    server.inject("/cg/coins/markets", *[fault] * 10)
    before = facts_state()
    result = refresh.market_refresh(provider=coingecko(server, clock))
    run = SyncRun.objects.get(pk=result.run.pk)
    assert run.status == SyncRun.Status.FAILED and "ProviderRetryableError" in run.error
    assert len(market_requests(server)) == MAX_ATTEMPTS
    assert len(clock.sleeps) == MAX_ATTEMPTS - 1
    assert facts_state() == before


def test_a_timeout_is_retried_and_the_refresh_completes(loaded, server, clock):
    release = threading.Event()
    server.inject("/cg/coins/markets", ("stall", release))
    try:
        result = refresh.market_refresh(provider=coingecko(server, clock))
    finally:
        release.set()
    assert result.run.status == SyncRun.Status.SUCCEEDED and result.run.retries == 1


def test_a_404_is_not_retried_and_is_recorded(loaded, server, clock):
    server.inject("/cg/coins/markets", 404)
    result = refresh.market_refresh(provider=coingecko(server, clock))
    assert result.run.status == SyncRun.Status.FAILED and "ProviderFatalError" in result.run.error
    assert len(market_requests(server)) == 1


def test_truncated_json_for_one_protocol_writes_nothing_for_it(loaded, server, clock):
    RevenueDay.objects.all().delete()
    server.inject("/llama/summary/fees/alpha-llama", "truncate")
    result = history.revenue_refresh(provider=defillama(server, clock), backfill=True)
    run = SyncRun.objects.get(pk=result.run.pk)
    assert "alpha-llama" in run.error and "ProviderDataError" in run.error
    assert not RevenueDay.objects.filter(token__slug="alpha").exists()
    assert RevenueDay.objects.filter(token__slug="gamma").count() == 20
    alpha_requests = [p for p in server.requests if "alpha-llama" in p]
    assert len(alpha_requests) == 1  # a data error is not retried


@pytest.mark.parametrize(
    "mangle",
    [
        lambda rows: [{k: v for k, v in row.items() if k != "last_updated"} for row in rows],  # a field gone
        lambda rows: [{**row, "current_price": str(row["current_price"])} for row in rows],  # a number as text
    ],
    ids=["field-missing", "string-for-number"],
)
def test_a_response_of_the_wrong_shape_writes_nothing(loaded, server, clock, data_dir, mangle):
    rows = json.loads((data_dir / "coingecko" / "coins_markets.json").read_text())
    server.inject("/cg/coins/markets", ("body", json.dumps(mangle(rows)).encode()))
    MetricSnapshot.objects.update(price_usd=1)  # would be rewritten by a successful refresh
    before = facts_state()
    result = refresh.market_refresh(provider=coingecko(server, clock))
    assert result.run.status == SyncRun.Status.FAILED and "ProviderDataError" in result.run.error
    assert facts_state() == before


def test_the_circuit_opens_after_repeated_failure_for_every_client(loaded, server, clock):
    circuit = Circuit("coingecko-test", failure_threshold=2, reset_timeout=300)
    server.inject("/cg/coins/markets", *[500] * (2 * MAX_ATTEMPTS))
    for _ in range(2):
        assert refresh.market_refresh(provider=coingecko(server, clock, circuit=circuit)).run.status == "failed"
    sent = len(market_requests(server))
    another_worker = coingecko(server, FakeClock(), circuit=circuit)
    result = refresh.market_refresh(provider=another_worker)
    assert "circuit open" in result.run.error
    assert len(market_requests(server)) == sent  # nothing was sent
    # The last good data stays served.
    assert PriceDay.objects.filter(token__slug="alpha", date="2026-03-01", price_usd=10).exists()


def todays_market_pages(data_dir):
    """The recorded quotes as if quoted now, one page each: a day with no prices yet."""
    from django.utils import timezone

    now = timezone.now().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    rows = json.loads((data_dir / "coingecko" / "coins_markets.json").read_text())
    return [("body", json.dumps([{**row, "last_updated": now}]).encode()) for row in rows]


def test_quotes_for_a_new_day_from_many_pages_are_all_written(loaded, server, clock, data_dir):
    from django.utils import timezone

    pages = todays_market_pages(data_dir)
    server.inject("/cg/coins/markets", *pages)
    result = refresh.market_refresh(provider=coingecko(server, clock, per_page=1))
    assert result.run.status == SyncRun.Status.SUCCEEDED and len(market_requests(server)) == len(pages)
    today = timezone.now().date()
    assert PriceDay.objects.filter(date=today).count() == result.run.rows_written == len(pages)
    assert MetricSnapshot.objects.filter(date=today).count() == len(pages)


def test_a_page_failing_after_others_arrived_writes_nothing(loaded, server, clock, data_dir):
    pages = todays_market_pages(data_dir)
    server.inject("/cg/coins/markets", pages[0], *[500] * MAX_ATTEMPTS)  # page 2 never comes
    before = facts_state()
    result = refresh.market_refresh(provider=coingecko(server, clock, per_page=1))
    run = SyncRun.objects.get(pk=result.run.pk)
    assert run.status == SyncRun.Status.FAILED and "ProviderRetryableError" in run.error
    assert len(market_requests(server)) == 1 + MAX_ATTEMPTS
    assert facts_state() == before


def test_a_spent_quota_stops_the_history_job_and_leaves_every_token_due(loaded, server, clock):
    """The quota is the provider's, not a token's: the job stops at it, says why, and the
    tokens it did not reach stay as due as they were (not pushed back as failed)."""
    Token.objects.update(price_history_at=None)  # every token due for its year
    quota = MonthlyQuota("coingecko-quota-test", limit=2, clock=lambda: 1_800_000_000)
    result = history.price_history_refresh(provider=coingecko(server, clock, quota=quota))
    charts = [p for p in server.requests if "/market_chart" in p]
    assert len(charts) == 2 and quota.remaining() == 0
    run = SyncRun.objects.get(pk=result.run.pk)
    assert run.status == SyncRun.Status.FAILED and "ProviderQuotaExhaustedError" in run.error
    assert Token.objects.exclude(price_history_at=None).count() == 2
    assert not Token.objects.exclude(price_history_failed_at=None).exists()
    assert run.remaining == Token.objects.tracked().exclude(coingecko_id=None).count() - 2
