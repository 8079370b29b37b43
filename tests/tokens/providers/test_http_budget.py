"""The request budget the HTTP client keeps per provider: at most N requests in any rolling
minute (shared by every worker through Redis), the plan's monthly quota, and the Retry-After
floor and single half-open trial that keep a struggling provider from being hammered. A fake
clock stands in for time; the requests go to real servers on 127.0.0.1."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pytest
from werkzeug import Response

from apps.tokens.providers.base import (
    ProviderCircuitOpenError,
    ProviderFatalError,
    ProviderQuotaExhaustedError,
)
from apps.tokens.providers.http import ProviderHttpClient, provider_http_options
from apps.tokens.providers.shared_state import Circuit, MonthlyQuota, RateLimiter

from .test_circuit_and_rate_limit import most_in_a_rolling_minute


@pytest.fixture(params=["memory", "redis"])
def redis_url(request):
    """None (per process) or the test Redis, with a key prefix of the test's own."""
    if request.param == "memory":
        return None
    return request.getfixturevalue("redis_target").url


@pytest.fixture
def key_prefix(request):
    if "redis_target" in request.fixturenames:
        return request.getfixturevalue("redis_target").prefix
    return "accrual"


def _client(base_url, provider, clock, **options) -> ProviderHttpClient:
    return ProviderHttpClient(
        provider,
        base_url,
        circuit=options.pop("circuit", None) or Circuit(provider, clock=clock.time),
        sleep=clock.sleep,
        clock=clock.time,
        connect_timeout=1.0,
        read_timeout=2.0,
        **options,
    )


# --- Rolling minute ------------------------------------------------------------------------


def test_a_rolling_minute_never_sees_more_than_the_limit_across_a_window_boundary(
    clock, provider_name, redis_url, key_prefix
):
    """A fixed window on unix minutes would let 5 through at :55 and 5 more at :05; the
    provider, counting the last 60 s, would see 10."""
    clock.now = 1_795_000_020.0 - 1_795_000_020.0 % 60 + 55  # 5 s before a unix minute ends
    limiter = RateLimiter(
        provider_name, per_minute=5, redis_url=redis_url, key_prefix=key_prefix, sleep=clock.sleep, clock=clock.time
    )
    sent = []
    for _ in range(5):
        limiter.acquire()
        sent.append(clock.now)
    clock.advance(10)  # into the next unix minute
    for _ in range(7):
        limiter.acquire()
        sent.append(clock.now)
    assert most_in_a_rolling_minute(sent) == 5
    assert sent[5] == pytest.approx(sent[0] + 60, abs=0.01)  # the 6th waited for the 1st to age out


def test_two_clients_on_one_redis_share_the_rolling_minute(server, clock, provider_name, redis_target):
    arrivals = []

    def record(_request):
        arrivals.append(clock.now)
        return Response("{}", content_type="application/json")

    server.expect_request("/x").respond_with_handler(record)
    clients = [
        _client(
            server.url_for("/"),
            provider_name,
            clock,
            rate_limit=RateLimiter(
                provider_name,
                per_minute=4,
                redis_url=redis_target.url,
                key_prefix=redis_target.prefix,
                sleep=clock.sleep,
                clock=clock.time,
            ),
        )
        for _ in range(2)
    ]
    for i in range(13):
        clients[i % 2].get_json("/x")
        clock.advance(7)  # calls spread out, so windows overlap every which way
    assert len(arrivals) == 13
    assert most_in_a_rolling_minute(arrivals) == 4
    assert sum(c.stats.waited for c in clients) > 0


# --- Retry-After -------------------------------------------------------------------------


def test_retry_after_is_a_floor_on_every_wait(server, clock, provider_name):
    for _ in range(3):
        server.expect_ordered_request("/x").respond_with_data("slow down", status=429, headers={"Retry-After": "12"})
    server.expect_ordered_request("/x").respond_with_json({"ok": 1})
    client = _client(server.url_for("/"), provider_name, clock, backoff_base=0.01, backoff_cap=0.02)

    assert client.get_json("/x") == {"ok": 1}
    assert len(clock.sleeps) == 3 and all(slept >= 12 for slept in clock.sleeps)
    assert client.stats.waited == pytest.approx(sum(clock.sleeps))


# --- Half-open: one trial for everyone ------------------------------------------------------


def test_half_open_lets_exactly_one_trial_through_of_many_concurrent_workers(
    scripted_server, clock, provider_name, redis_target
):
    """Every worker sees the reset timeout pass at once; one sends the trial, the rest are
    refused until it is done (pybreaker's shared half-open state would let all of them in)."""
    from .conftest import Action

    scripted_server.script(Action(kind="stall", stall=0.5, body=b"{}"))
    options = {"failure_threshold": 1, "reset_timeout": 60, "redis_url": redis_target.url}
    Circuit(provider_name, clock=clock.time, key_prefix=redis_target.prefix, **options).record_failure()
    clock.advance(61)
    workers = [
        _client(
            scripted_server.url(),
            provider_name,
            clock,
            circuit=Circuit(provider_name, clock=clock.time, key_prefix=redis_target.prefix, **options),
        )
        for _ in range(8)
    ]
    barrier, outcomes = threading.Barrier(len(workers)), []

    def call(client):
        barrier.wait()
        try:
            client.get_json("/x")
            outcomes.append("sent")
        except ProviderCircuitOpenError:
            outcomes.append("refused")

    threads = [threading.Thread(target=call, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(scripted_server.requests) == 1
    assert sorted(outcomes) == ["refused"] * 7 + ["sent"]
    assert workers[0].circuit.state() == "closed"


# --- Monthly quota -------------------------------------------------------------------------


def _quota(provider, clock, redis_url, key_prefix, limit):
    return MonthlyQuota(provider, limit=limit, redis_url=redis_url, key_prefix=key_prefix, clock=clock.time)


def test_with_quota_q_and_3q_concurrent_calls_at_most_q_requests_are_sent(
    server, clock, provider_name, redis_url, key_prefix
):
    server.expect_request("/x").respond_with_json({})
    quota_size = 5
    clients = [
        _client(server.url_for("/"), provider_name, clock, quota=_quota(provider_name, clock, redis_url, key_prefix, 5))
        for _ in range(3 * quota_size)
    ]
    barrier, refused, sent = threading.Barrier(len(clients)), [], []

    def call(client):
        barrier.wait()
        try:
            client.get_json("/x")
            sent.append(1)
        except ProviderQuotaExhaustedError as exc:
            refused.append(exc)

    threads = [threading.Thread(target=call, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(server.log) == quota_size == len(sent)
    assert len(refused) == 2 * quota_size
    quota = clients[0].quota
    assert (quota.used(), quota.remaining(), quota.limit) == (5, 0, 5)


def test_a_spent_quota_refuses_with_the_quota_the_count_and_the_reset(server, clock, provider_name):
    clock.now = dt.datetime(2026, 11, 30, 23, 0, tzinfo=dt.UTC).timestamp()
    server.expect_request("/x").respond_with_json({})
    client = _client(
        server.url_for("/"), provider_name, clock, quota=MonthlyQuota(provider_name, limit=2, clock=clock.time)
    )
    client.get_json("/x")
    client.get_json("/x")

    with pytest.raises(ProviderQuotaExhaustedError) as refused:
        client.get_json("/x")
    message = str(refused.value)
    assert "monthly quota of 2 calls" in message
    assert "2 used in 2026-11" in message
    assert "resets at 2026-12-01 00:00 UTC" in message
    assert refused.value.resets_at == dt.datetime(2026, 12, 1, tzinfo=dt.UTC)
    assert len(server.log) == 2  # the refused call sent nothing
    assert clock.sleeps == [] and client.circuit.state() == "closed"  # not retried, not a provider failure


def test_the_quota_starts_again_with_the_month(server, clock, provider_name, redis_url, key_prefix):
    clock.now = dt.datetime(2026, 12, 31, 23, 59, 30, tzinfo=dt.UTC).timestamp()
    server.expect_request("/x").respond_with_json({})
    quota = _quota(provider_name, clock, redis_url, key_prefix, 3)
    client = _client(server.url_for("/"), provider_name, clock, quota=quota)
    for _ in range(3):
        client.get_json("/x")
    with pytest.raises(ProviderQuotaExhaustedError):
        client.get_json("/x")

    clock.advance(31)  # 2027-01-01 00:00:01 UTC
    assert quota.month() == "2027-01" and quota.remaining() == 3
    client.get_json("/x")
    assert quota.used() == 1
    assert quota.used("2026-12") == 3  # last month's count can still be read
    assert len(server.log) == 4


def test_every_request_counts_whatever_it_returns(server, clock, provider_name, redis_url, key_prefix):
    server.expect_ordered_request("/x").respond_with_data("down", status=503)
    server.expect_ordered_request("/x").respond_with_json({})
    server.expect_ordered_request("/gone").respond_with_json({"error": "coin not found"}, status=404)
    quota = _quota(provider_name, clock, redis_url, key_prefix, 0)  # no quota: still counted
    client = _client(server.url_for("/"), provider_name, clock, quota=quota)
    client.get_json("/x")  # a 503, retried: two calls
    with pytest.raises(ProviderFatalError):
        client.get_json("/gone")
    assert quota.used() == 3 == len(server.log)
    assert quota.remaining() is None


def test_the_quota_key_expires_a_month_after_its_month(clock, provider_name, redis_target):
    clock.now = dt.datetime(2026, 11, 17, 12, 0, tzinfo=dt.UTC).timestamp()
    quota = _quota(provider_name, clock, redis_target.url, redis_target.prefix, 10)
    quota.spend()
    key = f"{redis_target.prefix}:quota:{provider_name}:2026-11"
    assert int(redis_target.client.get(key)) == 1
    ttl_days = redis_target.client.ttl(key) / 86400
    assert 13.4 + 31 - 0.1 < ttl_days < 13.5 + 31 + 0.1  # to 1 December, and a month more


def test_quota_from_settings(settings, provider_name):
    settings.REDIS_URL = ""
    assert MonthlyQuota.from_settings("coingecko").limit == settings.COINGECKO_MONTHLY_QUOTA == 10_000
    assert MonthlyQuota.from_settings("defillama").limit == settings.DEFILLAMA_MONTHLY_QUOTA == 0
    settings.COINGECKO_MONTHLY_QUOTA = 7
    options = provider_http_options("coingecko", rate_limit_setting="COINGECKO_RATE_LIMIT_PER_MINUTE")
    assert options["quota"].limit == 7


def test_quota_used_reads_what_the_clients_counted(settings, server):
    from apps.tokens.providers.shared_state import quota_used

    settings.REDIS_URL = ""
    settings.COINGECKO_MONTHLY_QUOTA = 100
    server.expect_request("/x").respond_with_json({})
    before = quota_used("coingecko")
    options = provider_http_options("coingecko")
    with ProviderHttpClient("coingecko", server.url_for("/"), **{**options, "rate_limit": None}) as client:
        client.get_json("/x")
        client.get_json("/x")
    assert quota_used("coingecko") == before + 2
    assert quota_used("coingecko", month=time.strftime("%Y-%m", time.gmtime())) == before + 2
