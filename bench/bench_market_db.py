"""The market refresh's database work at full size (issue 13): ``refresh.market_refresh`` with
an in-process provider returning every tracked token's quote, its prices moved by a per-run
factor so that every price and snapshot changes; the quotes are built before the clock starts.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/accrual_bench_snap \\
        .venv/bin/python -m bench.bench_market_db 5

The database is a universe of ``generate_synthetic_universe`` (or a copy of one:
``CREATE DATABASE accrual_bench_snap TEMPLATE accrual_bench``). Prints each run's wall time
its process's CPU time (steadier on a shared machine) and the time spent in SQL (Django's
query timings, which include decoding the rows), then the medians. See bench/README.md.
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django

django.setup()

from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from apps.tokens import refresh, services  # noqa: E402
from apps.tokens.models import PriceDay  # noqa: E402
from apps.tokens.providers.base import MarketQuote  # noqa: E402


class Quotes:
    """A market provider whose quotes are fixed lists."""

    source = "coingecko"

    def __init__(self, quotes: list[MarketQuote]) -> None:
        self.quotes = quotes

    def markets(self, ids) -> list[MarketQuote]:
        return self.quotes


def quotes(tokens: dict[str, tuple], last: dict[int, tuple], factor: Decimal) -> list[MarketQuote]:
    now = timezone.now()
    made = []
    for coingecko_id, (pk, circulating, total, maximum, image) in tokens.items():
        price, cap, volume = last[pk]
        made.append(
            MarketQuote(
                coingecko_id,
                "S",
                "N",
                now,
                image,
                (price * factor).quantize(Decimal("1e-10")),
                (cap * factor).quantize(Decimal("0.01")),
                None,
                volume,
                circulating,
                total,
                maximum,
            )
        )
    return made


def main(runs: int) -> None:
    tokens = services.quoted_tokens()
    last = {
        row[0]: row[1:]
        for row in PriceDay.objects.order_by("token_id", "-date")
        .distinct("token_id")
        .values_list("token_id", "price_usd", "market_cap_usd", "volume_usd")
    }
    walls, in_sql, cpu = [], [], []
    for run in range(runs):
        provider = Quotes(quotes(tokens, last, Decimal(1) + Decimal(run + int(time.time()) % 997) / 10_000))
        start, start_cpu = time.perf_counter(), time.process_time()
        with CaptureQueriesContext(connection) as queries:
            result = refresh.market_refresh(provider=provider)
        walls.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        in_sql.append(sum(float(q["time"]) for q in queries.captured_queries))
        print(
            f"run {run}: wall {walls[-1]:.3f} s, Python CPU {cpu[-1]:.3f} s, in SQL {in_sql[-1]:.3f} s,"
            f" {len(queries)} queries, {len(provider.quotes)} quotes, error={result.run.error!r}",
            flush=True,
        )
    print(
        f"median of {runs}: wall {statistics.median(walls):.3f} s, Python CPU {statistics.median(cpu):.3f} s,"
        f" in SQL {statistics.median(in_sql):.3f} s (load {os.getloadavg()[0]:.1f})"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
