"""Alerts benchmark (issue 11): one evaluation of 100,000 alert rules over 20,000 tokens after
a day's change, on PostgreSQL. Goal: under 10 seconds, with a query count that does not
depend on the number of rules (printed for 100,000 rules and for 10,000).

    python -m bench.bench_alerts                      # full size
    python -m bench.bench_alerts --tokens 2000 --rules 10000   # quick check

Database: DATABASE_URL, else postgres://postgres@127.0.0.1:5432/accrual_bench_alerts
(created if missing, migrated). **The benchmark empties its tables** (TRUNCATE of tokens,
ratings, watchlists and readers), so it refuses a database whose name does not contain
``bench``.

Setup (not measured) builds only what the evaluation reads, not a history: the synthetic
universe generator (``generate_synthetic_universe``) takes about 12 minutes for 20,000
tokens with the history ratings need, and the evaluation reads none of it. So: 20,000
``synth-`` tokens with snapshots today, yesterday and a week ago (prices, annualised revenue,
holders revenue, P/S, P/HR moving by deterministic amounts), today's rating changes (10% of
tokens change investor band, 5% trader band, 3% flip signal) and buybacks or burns on 2% of
tokens; 1,000 readers with two 25-token watchlists each and 100 rules each (the nine kinds in
turn, thresholds spread so some fire and most do not; one rule in ten on a watchlist).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import time
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from bench.bench_ratings import _commit, ensure_database

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accrual_bench_alerts"
RESULTS_DIR = ROOT / "bench" / "results"
DAY = dt.date(2026, 6, 30)  # a fixed day, so the data (and the results) repeat
GOAL_SECONDS = 10.0
READERS = 1_000
LISTS_PER_READER = 2
TOKENS_PER_LIST = 25


def say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _setup_django(url: str) -> None:
    os.environ["DATABASE_URL"] = url
    os.environ.pop("DJANGO_ENV", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def build(tokens: int, rules: int) -> None:
    """The universe, facts and rules (see the module docstring)."""
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from apps.accounts.models import User
    from apps.ratings.methodology import METHODOLOGY
    from apps.ratings.models import RatingChange
    from apps.tokens.models import AccrualEvent, MetricSnapshot, Source, Token
    from apps.watchlists.models import AlertKind, AlertRule, Watchlist, WatchlistItem

    call_command("migrate", verbosity=0)
    tables = [m._meta.db_table for m in (Token, User, RatingChange, AccrualEvent, MetricSnapshot)]
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(tables)} CASCADE")
    now = timezone.now()
    say(f"{tokens:,} tokens with snapshots on 3 days")
    Token.objects.bulk_create(
        (Token(slug=f"synth-{i:05d}", symbol=f"S{i}", name=f"Synthetic {i}") for i in range(tokens)), batch_size=5000
    )
    ids = list(Token.objects.order_by("pk").values_list("pk", flat=True))

    def snapshot(i: int, token_id: int, day: dt.date, step: int) -> MetricSnapshot:
        # Deterministic moves: token i's figures drift by up to ±40% between the days.
        wiggle = Decimal(((i * 37 + step * 11) % 81) - 40) / 100
        base = Decimal(1 + i % 500)
        return MetricSnapshot(
            token_id=token_id,
            date=day,
            price_usd=base * (1 + wiggle),
            revenue_annualised=base * 100_000 * (1 + wiggle),
            holders_revenue_annualised=base * 40_000 * (1 + wiggle / 2),
            ps=Decimal(5 + i % 40) * (1 + wiggle),
            phr=Decimal(10 + i % 60) * (1 + wiggle),
            computed_at=now,
        )

    for step, day in enumerate((DAY - dt.timedelta(days=7), DAY - dt.timedelta(days=1), DAY)):
        MetricSnapshot.objects.bulk_create((snapshot(i, t, day, step) for i, t in enumerate(ids)), batch_size=5000)
    grades = "ABCDE"
    changes = []
    for i, t in enumerate(ids):
        if i % 10 == 0:
            changes.append(("band_change", "investor", grades[i % 5], grades[(i + 1) % 5], t))
        if i % 20 == 3:
            changes.append(("band_change", "trader", grades[i % 5], grades[(i + 2) % 5], t))
        if i % 33 == 5:
            changes.append(("signal_flip", "signal", "bearish", "bullish", t))
    RatingChange.objects.bulk_create(
        (
            RatingChange(
                token_id=t,
                date=DAY,
                methodology_version=METHODOLOGY.version,
                kind=kind,
                subject=subject,
                before=before,
                after=after,
                created_at=now,
            )
            for kind, subject, before, after, t in changes
        ),
        batch_size=5000,
    )
    AccrualEvent.objects.bulk_create(
        (
            AccrualEvent(
                token_id=t,
                date=DAY,
                kind=("buyback", "buyback-burn", "burn")[i % 3],
                usd_amount=Decimal(1000 * (i % 5000)),
                reference=f"0x{i:x}",
                source=Source.EDITOR,
                fetched_at=now,
            )
            for i, t in enumerate(ids)
            if i % 50 == 7
        ),
        batch_size=5000,
    )
    say(f"{READERS:,} readers, {READERS * LISTS_PER_READER:,} watchlists, {rules:,} rules")
    User.objects.bulk_create(
        (User(email=f"reader{n}@bench.invalid", password="!") for n in range(READERS)), batch_size=5000
    )
    users = list(User.objects.order_by("pk").values_list("pk", flat=True))
    Watchlist.objects.bulk_create(
        (Watchlist(user_id=u, name=f"List {k}", is_default=k == 0) for u in users for k in range(LISTS_PER_READER)),
        batch_size=5000,
    )
    lists = list(Watchlist.objects.order_by("pk").values_list("pk", flat=True))
    WatchlistItem.objects.bulk_create(
        (
            WatchlistItem(watchlist_id=w, token_id=ids[(n * 97 + k * 13) % len(ids)])
            for n, w in enumerate(lists)
            for k in range(TOKENS_PER_LIST)
        ),
        batch_size=5000,
        ignore_conflicts=True,
    )
    kinds = list(AlertKind)
    thresholds = {
        AlertKind.REVENUE_WOW: (10, 25, 50),
        AlertKind.HOLDERS_REVENUE_WOW: (10, 25, 50),
        AlertKind.PRICE_MOVE: (5, 20, 35),
        AlertKind.PS_CROSS: (10, 20, 30),
        AlertKind.PHR_CROSS: (15, 30, 50),
        AlertKind.ACCRUAL_EVENT: (100_000, 1_000_000, 3_000_000),
    }

    def make_rule(n: int) -> AlertRule:
        kind = kinds[n % len(kinds)]
        on_list = n % 10 == 9
        options = thresholds.get(kind)
        return AlertRule(
            user_id=users[n % len(users)],
            token_id=None if on_list else ids[(n * 7919) % len(ids)],
            watchlist_id=lists[(n % len(users)) * LISTS_PER_READER + n % LISTS_PER_READER] if on_list else None,
            kind=kind,
            threshold=Decimal(options[n % 3]) if options else None,
            direction=("any", "up", "down")[n % 3],
            delivery=("in_app", "immediate", "digest")[n % 3],
        )

    AlertRule.objects.bulk_create((make_rule(n) for n in range(rules)), batch_size=5000)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


def measure(label: str) -> dict:
    """One evaluation from cold (no notification yet) and again (everything fired already)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.watchlists.evaluation import alerts_evaluate
    from apps.watchlists.models import AlertRule, Notification

    Notification.objects.all().delete()
    active = AlertRule.objects.filter(is_active=True).count()
    load = os.getloadavg()[0]
    began, cpu = time.monotonic(), time.process_time()
    with CaptureQueriesContext(connection) as ctx:
        result = alerts_evaluate(day=DAY)
    seconds, cpu_seconds, queries = time.monotonic() - began, time.process_time() - cpu, len(ctx.captured_queries)
    fired = Notification.objects.count()
    began = time.monotonic()
    with CaptureQueriesContext(connection) as again_ctx:
        alerts_evaluate(day=DAY)
    again = time.monotonic() - began
    assert Notification.objects.count() == fired, "a second evaluation fired again"
    row = {
        "label": label,
        "active_rules": active,
        "matched": result.matched,
        "notifications": fired,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "queries": queries,
        "again_seconds": round(again, 2),
        "again_queries": len(again_ctx.captured_queries),
        "load_before": round(load, 2),
    }
    say(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--small-rules", type=int, default=10_000, help="the second count of active rules")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    url = args.database_url
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing database {name!r}: the benchmark empties it, and its name must contain 'bench'")
    ensure_database(url)
    _setup_django(url)
    print(f"alerts benchmark on {urlsplit(url).hostname}/{name}, {os.cpu_count()} CPUs", flush=True)
    began = time.monotonic()
    build(args.tokens, args.rules)
    setup_seconds = round(time.monotonic() - began, 1)

    from apps.watchlists.models import AlertRule

    full = measure("all rules")
    # The same evaluation with a tenth of the rules active: the query count must not move.
    keep = AlertRule.objects.order_by("pk").values_list("pk", flat=True)[args.small_rules - 1 : args.small_rules]
    AlertRule.objects.filter(pk__gt=keep[0]).update(is_active=False)
    small = measure(f"{args.small_rules} rules")
    report = {
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "tokens": args.tokens,
        "goal_seconds": GOAL_SECONDS,
        "setup_seconds": setup_seconds,
        "runs": [full, small],
    }
    verdict = "meets" if full["seconds"] < GOAL_SECONDS else "misses"
    flat = "the same" if full["queries"] == small["queries"] else "NOT the same"
    print(
        f"{full['active_rules']:,} rules over {args.tokens:,} tokens: {full['seconds']:.2f} s "
        f"({full['notifications']:,} notifications, {full['queries']} queries; again: {full['again_seconds']:.2f} s, "
        f"nothing new) — {verdict} the {GOAL_SECONDS:.0f} s goal; {small['active_rules']:,} rules: "
        f"{small['seconds']:.2f} s, {small['queries']} queries ({flat}); load average before: {full['load_before']}",
        flush=True,
    )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"alerts-{report['date']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
    if full["queries"] != small["queries"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
