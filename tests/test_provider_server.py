"""The stand-in provider server's rate limit: a rolling window per provider, as the benchmark
and the worker tests rely on it (429s with retry-after, counts of served and refused)."""

from __future__ import annotations

import threading

import httpx
import pytest

from tests.support.provider_server import ProviderServer, RollingLimit

MARKETS = "/cg/coins/markets?vs_currency=usd&per_page=250&page=1"
PROTOCOLS = "/llama/protocols"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def statuses(client: httpx.Client, path: str, n: int) -> list[int]:
    return [client.get(path).status_code for _ in range(n)]


def test_requests_over_the_limit_get_a_coingecko_429_with_retry_after(clock):
    with ProviderServer(rate_limits={"/cg": 3}, clock=clock) as server, httpx.Client(base_url=server.url) as client:
        assert statuses(client, MARKETS, 1) == [200]
        clock.now += 10
        assert statuses(client, MARKETS, 2) == [200, 200]
        clock.now += 10.5
        refused = client.get(MARKETS)
        assert refused.status_code == 429
        assert refused.json()["status"]["error_code"] == 429
        assert refused.headers["retry-after"] == "40"  # the first request leaves the window in 39.5 s
        clock.now += 39.5
        assert statuses(client, MARKETS, 2) == [200, 429]


def test_the_window_rolls_rather_than_resetting_on_a_boundary(clock):
    with ProviderServer(rate_limits={"/cg": 3}, clock=clock) as server, httpx.Client(base_url=server.url) as client:
        assert statuses(client, MARKETS, 2) == [200, 200]
        clock.now += 30
        assert statuses(client, MARKETS, 2) == [200, 429]
        clock.now += 31  # the first two have left the window, the third has not
        assert statuses(client, MARKETS, 3) == [200, 200, 429]


def test_defillama_gets_plain_text_and_each_prefix_has_its_own_limit(clock):
    limits = {"/cg": 1, "/llama": 2}
    with ProviderServer(rate_limits=limits, clock=clock) as server, httpx.Client(base_url=server.url) as client:
        assert statuses(client, MARKETS, 2) == [200, 429]
        assert statuses(client, PROTOCOLS, 2) == [200, 200]
        refused = client.get(PROTOCOLS)
        assert refused.status_code == 429
        assert refused.headers["content-type"] == "text/plain"
        assert refused.text == "Too Many Requests"
        assert refused.headers["retry-after"] == "60"


def test_stats_count_served_and_refused_per_endpoint_and_are_not_limited(clock):
    with ProviderServer(rate_limits={"/cg": 2}, clock=clock) as server, httpx.Client(base_url=server.url) as client:
        statuses(client, MARKETS, 3)
        statuses(client, "/cg/coins/bitcoin/market_chart?vs_currency=usd&days=2", 1)
        statuses(client, PROTOCOLS, 2)
        for _ in range(5):
            stats = client.get("/_stats")
            assert stats.status_code == 200
        assert stats.json() == {
            "markets": {"served": 2, "refused": 1},
            "market_chart": {"served": 0, "refused": 1},
            "defillama_other": {"served": 2, "refused": 0},
        }
        assert "/_stats" not in server.requests


def test_a_changed_limit_starts_from_an_empty_window(clock):
    with ProviderServer(rate_limits={"/cg": 1}, clock=clock) as server, httpx.Client(base_url=server.url) as client:
        assert statuses(client, MARKETS, 2) == [200, 429]
        server.set_rate_limit("/cg", 2)
        assert statuses(client, MARKETS, 3) == [200, 200, 429]
        server.set_rate_limit("/cg", None)
        assert statuses(client, MARKETS, 3) == [200, 200, 200]


def test_concurrent_requests_never_pass_more_than_the_limit():
    with ProviderServer(rate_limits={"/cg": 5}) as server:
        results: list[int] = []
        lock = threading.Lock()

        def send() -> None:
            with httpx.Client(base_url=server.url) as client:
                for _ in range(4):
                    status = client.get(MARKETS).status_code
                    with lock:
                        results.append(status)

        threads = [threading.Thread(target=send) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(results).count(200) == 5
        assert len(results) == 24
        assert server.stats()["markets"] == {"served": 5, "refused": 19}


def test_rolling_limit_with_a_short_window_frees_slots_as_they_age(clock):
    limit = RollingLimit(2, window=1.0, clock=clock)
    assert limit.admit() is None
    clock.now += 0.25
    assert limit.admit() is None
    assert limit.admit() == pytest.approx(0.75)
    clock.now += 0.75
    assert limit.admit() is None
    assert limit.admit() == pytest.approx(0.25)
