"""The circuit and the outbound rate limit, shared between workers through a real Redis
(and per process without one). "Another worker" is a second, independent client instance."""

from __future__ import annotations

import logging
import subprocess
import sys
import textwrap
import threading
from collections import Counter

import pytest
from django.conf import settings

from apps.tokens.providers.base import ProviderCircuitOpenError, ProviderRetryableError
from apps.tokens.providers.http import ProviderHttpClient
from apps.tokens.providers.shared_state import Circuit, RateLimiter

from .conftest import fixture_bytes


@pytest.fixture(params=["memory", "redis"])
def backend(request):
    """Circuit/RateLimiter keyword arguments for each backend."""
    if request.param == "memory":
        return {"redis_url": None, "key_prefix": "accrual"}
    target = request.getfixturevalue("redis_target")
    return {"redis_url": target.url, "key_prefix": target.prefix}


def _worker(base_url, provider, clock, backend, **circuit_options) -> ProviderHttpClient:
    """One worker's client: its own Circuit instance and HTTP connection pool."""
    circuit = Circuit(provider, clock=clock.time, **backend, **circuit_options)
    return ProviderHttpClient(
        provider,
        base_url,
        headers={},
        circuit=circuit,
        sleep=clock.sleep,
        clock=clock.time,
        max_attempts=2,
        connect_timeout=1.0,
        read_timeout=2.0,
    )


def test_circuit_opens_after_k_failures_and_a_second_worker_sends_nothing(server, clock, provider_name, backend):
    server.expect_request("/coins/markets").respond_with_data(
        fixture_bytes("defillama/error_500_internal.txt"), status=500, content_type="text/plain"
    )
    worker_a = _worker(server.url_for("/"), provider_name, clock, backend, failure_threshold=3, reset_timeout=300)
    for _ in range(3):
        with pytest.raises(ProviderRetryableError):
            worker_a.get_json("/coins/markets")
    assert len(server.log) == 6  # 3 calls × 2 attempts
    assert worker_a.circuit.state() == "open"

    worker_b = _worker(server.url_for("/"), provider_name, clock, backend, failure_threshold=3, reset_timeout=300)
    with pytest.raises(ProviderCircuitOpenError) as caught:
        worker_b.get_json("/coins/markets")
    assert caught.value.open_until == pytest.approx(clock.now + 300, abs=1)
    with pytest.raises(ProviderCircuitOpenError):
        worker_a.get_json("/coins/markets")
    assert len(server.log) == 6  # no request was sent


def test_a_success_resets_the_failure_count(server, clock, provider_name, backend):
    server.expect_ordered_request("/x").respond_with_data("down", status=502)
    server.expect_ordered_request("/x").respond_with_data("down", status=502)
    server.expect_ordered_request("/x").respond_with_json({})
    server.expect_ordered_request("/x").respond_with_data("down", status=502)
    server.expect_ordered_request("/x").respond_with_data("down", status=502)
    worker = _worker(server.url_for("/"), provider_name, clock, backend, failure_threshold=2)
    with pytest.raises(ProviderRetryableError):
        worker.get_json("/x")
    assert worker.get_json("/x") == {}  # retried once, then fine: the count starts over
    with pytest.raises(ProviderRetryableError):
        worker.get_json("/x")
    assert worker.circuit.state() == "closed"


def test_a_healthy_provider_costs_one_redis_round_trip_a_request(
    server, clock, provider_name, redis_target, monkeypatch
):
    from apps.tokens.providers import shared_state

    calls = Counter()
    real = shared_state._redis_call
    monkeypatch.setattr(shared_state, "_redis_call", lambda *a, **k: calls.update([a[1]]) or real(*a, **k))
    server.expect_request("/x").respond_with_json({})
    backend = {"redis_url": redis_target.url, "key_prefix": redis_target.prefix}
    worker = _worker(server.url_for("/"), provider_name, clock, backend, failure_threshold=2)
    for _ in range(5):
        assert worker.get_json("/x") == {}
    assert calls["circuit"] == 5  # the check before each request; nothing to clear after


def test_half_open_after_reset_timeout_one_trial_closes_it(server, clock, provider_name, backend):
    options = {"failure_threshold": 1, "reset_timeout": 120}
    worker_a = _worker(server.url_for("/"), provider_name, clock, backend, **options)
    worker_a.circuit.record_failure()
    assert worker_a.circuit.state() == "open"

    clock.advance(121)
    assert worker_a.circuit.state() == "half-open"
    server.expect_request("/ping").respond_with_json({"gecko_says": "(V3) To the Moon!"})
    worker_b = _worker(server.url_for("/"), provider_name, clock, backend, **options)
    assert worker_b.get_json("/ping") == {"gecko_says": "(V3) To the Moon!"}
    assert len(server.log) == 1
    assert worker_a.circuit.state() == "closed"
    assert worker_a.get_json("/ping")  # everyone may call again


def test_half_open_allows_exactly_one_trial(clock, provider_name, backend):
    first = Circuit(provider_name, clock=clock.time, failure_threshold=1, reset_timeout=60, **backend)
    second = Circuit(provider_name, clock=clock.time, failure_threshold=1, reset_timeout=60, **backend)
    first.record_failure()
    with pytest.raises(ProviderCircuitOpenError):
        second.before_request()
    clock.advance(61)
    assert first.before_request() is True  # this caller holds the trial
    with pytest.raises(ProviderCircuitOpenError):
        second.before_request()  # another worker meanwhile is still refused


def test_a_failed_trial_reopens_the_circuit_after_a_single_attempt(server, clock, provider_name, backend):
    server.expect_request("/x").respond_with_data("still down", status=503)
    worker = _worker(server.url_for("/"), provider_name, clock, backend, failure_threshold=1, reset_timeout=60)
    worker.circuit.record_failure()
    clock.advance(61)

    with pytest.raises(ProviderRetryableError):
        worker.get_json("/x")
    assert len(server.log) == 1  # the trial is one attempt, not max_attempts
    assert worker.circuit.state() == "open"
    assert worker.circuit.open_until() == pytest.approx(clock.now + 60)


def test_circuit_with_a_tiny_real_timeout(provider_name, backend):
    circuit = Circuit(provider_name, failure_threshold=1, reset_timeout=0.05, **backend)
    circuit.record_failure()
    with pytest.raises(ProviderCircuitOpenError):
        circuit.before_request()
    threading.Event().wait(0.06)
    assert circuit.before_request() is True
    circuit.record_success()
    assert circuit.state() == "closed"


def test_circuit_keys_live_in_redis_with_a_ttl(clock, provider_name, redis_target):
    circuit = Circuit(
        provider_name,
        redis_url=redis_target.url,
        key_prefix=redis_target.prefix,
        clock=clock.time,
        failure_threshold=2,
        reset_timeout=300,
    )
    circuit.record_failure()
    r = redis_target.client
    failures_key = f"{redis_target.prefix}:circuit:{provider_name}:failures"
    assert int(r.get(failures_key)) == 1
    assert 0 < r.ttl(failures_key) <= 300
    circuit.record_failure()
    open_until_key = f"{redis_target.prefix}:circuit:{provider_name}:open_until"
    assert float(r.get(open_until_key)) == pytest.approx(clock.now + 300)
    assert r.ttl(open_until_key) > 0


def test_circuit_state_is_seen_by_another_process(provider_name, redis_target):
    """A separate Python process (a real other worker) sees the open circuit in Redis."""
    circuit = Circuit(provider_name, redis_url=redis_target.url, key_prefix=redis_target.prefix, failure_threshold=1)
    circuit.record_failure()
    code = textwrap.dedent(
        f"""
        from apps.tokens.providers.base import ProviderCircuitOpenError
        from apps.tokens.providers.shared_state import Circuit
        circuit = Circuit({provider_name!r}, redis_url={redis_target.url!r}, key_prefix={redis_target.prefix!r})
        try:
            circuit.before_request()
        except ProviderCircuitOpenError:
            print("refused")
        else:
            print("allowed")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=settings.BASE_DIR, capture_output=True, text=True, timeout=20, check=True
    )
    assert result.stdout.strip() == "refused"


# --- Rate limit ----------------------------------------------------------------------------


def most_in_a_rolling_minute(times: list[float]) -> int:
    """The largest number of ``times`` inside any 60-second window (a provider's own count)."""
    return max(sum(1 for other in times if t - 60 < other <= t) for t in times)


def test_rate_limit_shared_by_two_limiters(clock, provider_name, backend):
    limiters = [
        RateLimiter(provider_name, per_minute=3, sleep=clock.sleep, clock=clock.time, **backend) for _ in range(2)
    ]
    passed_at = []
    for i in range(8):
        limiters[i % 2].acquire()
        passed_at.append(clock.now)
    assert most_in_a_rolling_minute(passed_at) == 3  # across both
    # A full minute waits (through the fake sleep) until its oldest request is a minute old.
    assert clock.sleeps == [pytest.approx(60, abs=0.01)] * 2
    assert passed_at[3] - passed_at[0] == pytest.approx(60, abs=0.01)


class _WouldWait(Exception):
    pass


def test_rate_limit_is_atomic_across_concurrent_workers(clock, provider_name, redis_target):
    """24 threads on two limiters in one window: exactly N get through."""

    def refuse(_seconds):
        raise _WouldWait

    limiters = [
        RateLimiter(
            provider_name,
            per_minute=5,
            redis_url=redis_target.url,
            key_prefix=redis_target.prefix,
            sleep=refuse,
            clock=clock.time,
        )
        for _ in range(2)
    ]
    passed = []
    barrier = threading.Barrier(24)

    def run(i):
        barrier.wait()
        try:
            limiters[i % 2].acquire()
            passed.append(i)
        except _WouldWait:
            pass

    threads = [threading.Thread(target=run, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(passed) == 5


def test_client_requests_respect_the_shared_rate_limit(server, clock, provider_name, redis_target):
    from werkzeug import Response

    arrivals = []

    def record(_request):
        arrivals.append(clock.now)
        return Response("[]", content_type="application/json")

    server.expect_request("/coins/markets").respond_with_handler(record)
    clients = [
        ProviderHttpClient(
            provider_name,
            server.url_for("/"),
            headers={},
            circuit=Circuit(provider_name, clock=clock.time),
            rate_limit=RateLimiter(
                provider_name,
                per_minute=2,
                redis_url=redis_target.url,
                key_prefix=redis_target.prefix,
                sleep=clock.sleep,
                clock=clock.time,
            ),
            sleep=clock.sleep,
            clock=clock.time,
        )
        for _ in range(2)
    ]
    for i in range(5):
        clients[i % 2].get_json("/coins/markets")
    assert len(arrivals) == 5
    assert most_in_a_rolling_minute(arrivals) == 2
    assert clients[0].stats.waited + clients[1].stats.waited > 0


# --- Redis down: fail open -------------------------------------------------------------------


def test_redis_down_fails_open_with_a_warning(server, clock, provider_name, caplog):
    caplog.set_level(logging.WARNING, logger="apps.tokens.providers.shared_state")
    dead = "redis://127.0.0.1:1/0"
    server.expect_request("/x").respond_with_json({"ok": 1})
    client = ProviderHttpClient(
        provider_name,
        server.url_for("/"),
        headers={},
        circuit=Circuit(provider_name, redis_url=dead, clock=clock.time, failure_threshold=1),
        rate_limit=RateLimiter(provider_name, per_minute=1, redis_url=dead, sleep=clock.sleep, clock=clock.time),
        sleep=clock.sleep,
        clock=clock.time,
    )
    assert client.get_json("/x") == {"ok": 1}
    assert client.get_json("/x") == {"ok": 1}  # the rate limit is not enforced either
    assert clock.sleeps == []
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("Redis unavailable" in m and "failing open" in m for m in messages)
