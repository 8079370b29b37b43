"""ProviderHttpClient against real HTTP servers on 127.0.0.1, with a fake clock: no real
sleeping beyond sub-second read timeouts."""

from __future__ import annotations

import email.utils

import pytest

from apps.tokens.providers.base import ProviderDataError, ProviderFatalError, ProviderRetryableError
from apps.tokens.providers.http import ProviderHttpClient
from apps.tokens.providers.shared_state import Circuit

from .conftest import Action, fixture_bytes, fixture_json


@pytest.fixture
def make_client(clock, provider_name):
    clients = []

    def make(base_url: str, **kwargs) -> ProviderHttpClient:
        options = {
            "headers": {},
            "circuit": Circuit(provider_name, clock=clock.time),
            "sleep": clock.sleep,
            "clock": clock.time,
            "connect_timeout": 1.0,
            "read_timeout": 2.0,
        }
        options.update(kwargs)
        client = ProviderHttpClient(provider_name, base_url, **options)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


def test_429_retry_after_30_delays_the_next_attempt_at_least_30s(server, clock, make_client):
    server.expect_oneshot_request("/coins/markets").respond_with_data(
        fixture_bytes("coingecko/error_429.json"),
        status=429,
        headers={"Retry-After": "30"},
        content_type="application/json",
    )
    server.expect_request("/coins/markets").respond_with_json([])
    client = make_client(server.url_for("/"), backoff_base=1.0)

    assert client.get_json("/coins/markets", {"ids": "bitcoin"}) == []
    assert len(server.log) == 2
    assert len(clock.sleeps) == 1 and clock.sleeps[0] >= 30
    assert (client.stats.requests, client.stats.attempts, client.stats.retries) == (1, 2, 1)


def test_retry_after_as_http_date(server, clock, make_client):
    clock.now = float(int(clock.now))
    when = email.utils.formatdate(clock.now + 45, usegmt=True)
    server.expect_oneshot_request("/x").respond_with_data("busy", status=503, headers={"Retry-After": when})
    server.expect_request("/x").respond_with_json({"ok": True})
    client = make_client(server.url_for("/"))

    assert client.get_json("/x") == {"ok": True}
    assert clock.sleeps[0] >= 45


def test_retry_after_beyond_the_cap_gives_up_at_once(server, clock, make_client):
    server.expect_request("/x").respond_with_data(
        fixture_bytes("coingecko/error_429.json"), status=429, headers={"Retry-After": "1000"}
    )
    client = make_client(server.url_for("/"), retry_after_cap=300)

    with pytest.raises(ProviderRetryableError) as caught:
        client.get_json("/x")
    assert caught.value.retry_after == 1000  # for the caller to reschedule
    assert caught.value.status == 429
    assert len(server.log) == 1 and clock.sleeps == []


def test_retries_stop_at_the_wait_budget(server, clock, make_client):
    server.expect_request("/x").respond_with_data(
        fixture_bytes("coingecko/error_429.json"), status=429, headers={"Retry-After": "119"}
    )
    client = make_client(server.url_for("/"), max_attempts=5, max_total_wait=300)

    with pytest.raises(ProviderRetryableError, match="budget") as caught:
        client.get_json("/x")
    assert clock.sleeps == [119, 119]  # a third wait of 119 s would pass 300 s
    assert len(server.log) == 3
    assert caught.value.retry_after == 119


def test_the_last_attempts_retry_after_is_passed_on(server, clock, make_client):
    server.expect_request("/x").respond_with_data("slow down", status=429, headers={"Retry-After": "7"})
    client = make_client(server.url_for("/"), max_attempts=2)
    with pytest.raises(ProviderRetryableError) as caught:
        client.get_json("/x")
    assert clock.sleeps == [7]
    assert caught.value.retry_after == 7


def test_500_retried_with_capped_jitter_then_gives_up(server, clock, make_client):
    server.expect_request("/summary/fees/x").respond_with_data(
        fixture_bytes("defillama/error_500_internal.txt"), status=500, content_type="text/plain"
    )
    client = make_client(server.url_for("/"), max_attempts=6, backoff_base=1.0, backoff_cap=4.0)

    with pytest.raises(ProviderRetryableError, match="Internal Error") as caught:
        client.get_json("/summary/fees/x", {"dataType": "nonsense"})
    assert len(server.log) == 6
    assert caught.value.attempts == 6 and caught.value.status == 500
    assert len(clock.sleeps) == 5
    for n, slept in enumerate(clock.sleeps):
        assert 0 <= slept <= min(4.0, 1.0 * 2**n)
    assert client.stats.retries == 5 and client.stats.failures == 1


@pytest.mark.parametrize(
    ("status", "name", "fragment"),
    [
        (404, "coingecko/error_404_coin_not_found.json", "coin not found"),
        (401, "coingecko/error_401_10002.json", "API Key Missing"),
        (400, "coingecko/error_400_10010.json", "pro-api.coingecko.com"),
    ],
)
def test_4xx_is_fatal_after_exactly_one_request(server, clock, make_client, status, name, fragment):
    server.expect_request("/coins/nope/market_chart").respond_with_data(
        fixture_bytes(name), status=status, content_type="application/json"
    )
    client = make_client(server.url_for("/"))

    with pytest.raises(ProviderFatalError, match=fragment) as caught:
        client.get_json("/coins/nope/market_chart")
    assert caught.value.status == status
    assert len(server.log) == 1 and clock.sleeps == []


def test_read_timeout_is_retried(scripted_server, clock, make_client, caplog):
    scripted_server.script(Action(kind="stall", stall=0.6), Action(body=b'{"ok": true}'))
    client = make_client(scripted_server.url(), read_timeout=0.2, connect_timeout=0.5)

    assert client.get_json("/coins/list") == {"ok": True}
    assert len(scripted_server.requests) == 2
    assert client.stats.retries == 1
    assert "timeout (ReadTimeout)" in caplog.text


def test_read_timeout_every_time_ends_retryable(scripted_server, clock, make_client):
    scripted_server.script(Action(kind="stall", stall=0.5))
    client = make_client(scripted_server.url(), read_timeout=0.1, max_attempts=2)

    with pytest.raises(ProviderRetryableError, match="timeout"):
        client.get_json("/coins/list")
    assert len(scripted_server.requests) == 2


def test_reset_connection_is_retried(scripted_server, clock, make_client, caplog):
    scripted_server.script(Action(kind="reset"), Action(kind="reset"), Action(body=b"[1, 2]"))
    client = make_client(scripted_server.url())

    assert client.get_json("/protocols") == [1, 2]
    assert len(scripted_server.requests) == 3
    assert client.stats.retries == 2
    assert "connection error" in caplog.text


def test_connection_refused_is_retryable(clock, make_client):
    client = make_client("http://127.0.0.1:1", max_attempts=2, connect_timeout=0.5)
    with pytest.raises(ProviderRetryableError, match="connection error"):
        client.get_json("/x")
    assert client.stats.attempts == 2


def test_html_body_is_retried_even_with_200(server, clock, make_client):
    server.expect_oneshot_request("/coins/markets").respond_with_data(
        fixture_bytes("coingecko/cloudflare_429.html"), status=200, content_type="text/html; charset=UTF-8"
    )
    server.expect_request("/coins/markets").respond_with_json(fixture_json("coingecko/coins_markets.json"))
    client = make_client(server.url_for("/"))

    assert len(client.get_json("/coins/markets")) == 3
    assert len(server.log) == 2


def test_truncated_json_is_a_data_error_and_not_retried(server, clock, make_client):
    body = fixture_bytes("coingecko/coins_markets.json")
    server.expect_request("/coins/markets").respond_with_data(body[: len(body) // 2], content_type="application/json")
    client = make_client(server.url_for("/"))

    with pytest.raises(ProviderDataError, match="truncated or invalid JSON"):
        client.get_json("/coins/markets")
    assert len(server.log) == 1


def test_post_json(server, clock, make_client):
    server.expect_request("/info", method="POST", json={"type": "metaAndAssetCtxs"}).respond_with_json([{}, []])
    client = make_client(server.url_for("/"))
    assert client.post_json("/info", {"type": "metaAndAssetCtxs"}) == [{}, []]
