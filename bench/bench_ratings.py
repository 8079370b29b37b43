"""Ratings benchmark (issue 4): one day of ratings for 20,000 tokens, and a 365-day
backfill for 2,000 tokens, on PostgreSQL. Goal: the one day in under 10 seconds.

    python bench/bench_ratings.py                     # both parts
    python bench/bench_ratings.py --part day          # only the 20,000-token day
    python bench/bench_ratings.py --part backfill     # only the 2,000-token backfill

Two databases on the server of DATABASE_URL (default
postgres://postgres@127.0.0.1:5432/accrual_bench_ratings), created when missing:

* ``<name>``: 20,000 synthetic tokens with 200 days of history (a day's ratings look back
  180 days at most), built with ``manage.py generate_synthetic_universe``, which also
  computes the last day's snapshots. Built once: about 12 minutes on the 2-core machine
  (365 days took over 13, hence 200).
* ``<name>_backfill``: 2,000 synthetic tokens with 365 days of history and a snapshot for
  every day: about 3 minutes to generate and 3 for the snapshots, once (timed apart).

Each part runs in its own process (Django reads DATABASE_URL once). Times measured: the day
from cold (no rating stored: every row is inserted) and again warm (nothing changed:
nothing is written); the backfill from cold. Wall time, this process's CPU time (all its
threads; the database's own CPU is not in it) and the load average before each run are
printed: on a shared machine the load says how far the wall time is to be trusted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
# Not bench_refresh's accrual_bench: that benchmark empties its database (TRUNCATE) each run.
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accrual_bench_ratings"
RESULTS_DIR = ROOT / "bench" / "results"
END = dt.date(2026, 6, 30)  # a fixed last day, so the data (and the results) repeat
GOAL_SECONDS = 10.0


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def ensure_database(url: str) -> None:
    """CREATE DATABASE when it does not exist (connecting to the server's ``postgres``)."""
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_with_database(url, "postgres"), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", flush=True)


def run_part(part: str, url: str, args: argparse.Namespace) -> dict:
    """Run one part in a child process on its database; it prints a JSON line of results."""
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.pop("DJANGO_ENV", None)
    command = [sys.executable, __file__, "--child", part, "--tokens", str(args.tokens), "--days", str(args.days)]
    command += ["--backfill-tokens", str(args.backfill_tokens), "--backfill-days", str(args.backfill_days)]
    process = subprocess.run(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(process.stdout.strip().splitlines()[-1])


# --- In the child process -------------------------------------------------------------


def _setup_django() -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def _universe(tokens: int, days: int, say) -> None:
    from django.core.management import call_command

    from apps.tokens.models import Token

    call_command("migrate", verbosity=0)
    have = Token.objects.filter(slug__startswith="synth-").count()
    if have != tokens:
        if have:
            call_command("generate_synthetic_universe", delete=True)
        say(f"generating {tokens} synthetic tokens × {days} days (once; takes a while)")
        began = time.monotonic()
        call_command("generate_synthetic_universe", tokens=tokens, days=days, end=END)
        say(f"generated in {time.monotonic() - began:.0f} s")


def child_day(args: argparse.Namespace) -> dict:
    from django.db import connection

    from apps.ratings.models import Rating, RatingChange
    from apps.ratings.services import ratings_recompute
    from apps.ratings.universe_days import universe_days_update

    _universe(args.tokens, args.days, _say)
    Rating.objects.filter(date=END).delete()
    RatingChange.objects.filter(date=END).delete()
    # The rated universe's stored days, as a running deployment has them (their first fill,
    # once per deployment, reads every price): the day measured adds only its own.
    universe_days_update()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    load = os.getloadavg()[0]
    began, cpu = time.monotonic(), time.process_time()
    cold = ratings_recompute(day=END)
    cold_seconds, cold_cpu = time.monotonic() - began, time.process_time() - cpu
    began, cpu = time.monotonic(), time.process_time()
    warm = ratings_recompute(day=END)
    warm_seconds, warm_cpu = time.monotonic() - began, time.process_time() - cpu
    return {
        "part": "day",
        "tokens": cold.rated,
        "day": END.isoformat(),
        "cold_seconds": round(cold_seconds, 2),
        "cold_cpu_seconds": round(cold_cpu, 2),
        "cold_written": cold.written,
        "warm_seconds": round(warm_seconds, 2),
        "warm_cpu_seconds": round(warm_cpu, 2),
        "warm_written": warm.written,
        "load_before": round(load, 2),
    }


def child_backfill(args: argparse.Namespace) -> dict:
    from django.db import connection

    from apps.ratings.models import LatestRating, Rating, RatingChange
    from apps.ratings.services import ratings_backfill
    from apps.tokens.models import MetricSnapshot, Token
    from apps.tokens.snapshots import snapshots_recompute

    _universe(args.backfill_tokens, args.backfill_days, _say)
    start = END - dt.timedelta(days=args.backfill_days - 1)
    snapshot_seconds = None
    if MetricSnapshot.objects.filter(date=start).count() < args.backfill_tokens:
        _say("computing a snapshot for every day (setup)")
        began = time.monotonic()
        snapshots_recompute(token_ids=list(Token.objects.values_list("pk", flat=True)))
        snapshot_seconds = round(time.monotonic() - began, 1)
    # Every rating goes: TRUNCATE, not the ORM's cascading delete (which collects 730,000
    # rows in memory first, about 10 GB).
    tables = ", ".join(model._meta.db_table for model in (LatestRating, Rating, RatingChange))
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {tables}")
    load = os.getloadavg()[0]
    began, cpu = time.monotonic(), time.process_time()
    result = ratings_backfill(start=start, end=END)
    seconds, cpu_seconds = time.monotonic() - began, time.process_time() - cpu
    return {
        "part": "backfill",
        "tokens": args.backfill_tokens,
        "days": result.days,
        "token_days": result.rated,
        "written": result.written,
        "changes": result.changes,
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "per_day_seconds": round(seconds / max(result.days, 1), 3),
        "load_before": round(load, 2),
        "snapshot_setup_seconds": snapshot_seconds,
    }


def _commit() -> str | None:
    """The code measured: HEAD, marked "+dirty" when the working tree has changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--part", choices=["day", "backfill", "all"], default="all")
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=200)
    parser.add_argument("--backfill-tokens", type=int, default=2_000)
    parser.add_argument("--backfill-days", type=int, default=365)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--child", choices=["day", "backfill"], help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.child:
        _setup_django()
        result = child_day(args) if args.child == "day" else child_backfill(args)
        print(json.dumps(result))
        return

    url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    name = urlsplit(url).path.lstrip("/")
    print(f"ratings benchmark on {urlsplit(url).hostname}, {os.cpu_count()} CPUs", flush=True)
    report: dict = {
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "goal_seconds": GOAL_SECONDS,
    }
    if args.part in ("day", "all"):
        ensure_database(url)
        day = report["day"] = run_part("day", url, args)
        verdict = "meets" if day["cold_seconds"] < GOAL_SECONDS else "misses"
        print(
            f"one day, {day['tokens']:,} tokens ({day['day']}): {day['cold_seconds']:.2f} s from cold "
            f"({day['cold_written']:,} ratings written; {day['cold_cpu_seconds']:.1f} s of Python CPU), "
            f"{day['warm_seconds']:.2f} s again with nothing changed ({day['warm_cpu_seconds']:.1f} s CPU) — "
            f"{verdict} the {GOAL_SECONDS:.0f} s goal; load average before: {day['load_before']}",
            flush=True,
        )
    if args.part in ("backfill", "all"):
        backfill_url = _with_database(url, f"{name}_backfill")
        ensure_database(backfill_url)
        fill = report["backfill"] = run_part("backfill", backfill_url, args)
        setup = f"; snapshot setup {fill['snapshot_setup_seconds']} s" if fill["snapshot_setup_seconds"] else ""
        print(
            f"backfill, {fill['tokens']:,} tokens × {fill['days']} days: {fill['seconds']:.1f} s "
            f"({fill['per_day_seconds']:.3f} s a day, {fill['cpu_seconds']:.0f} s of Python CPU; "
            f"{fill['token_days']:,} token-days rated, {fill['written']:,} ratings and {fill['changes']:,} "
            f"events written{setup}; load average before: {fill['load_before']})",
            flush=True,
        )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"ratings-{report['date']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)


if __name__ == "__main__":
    main()
