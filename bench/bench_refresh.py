"""Refresh benchmark (issue 12): the market and revenue refreshes of a large universe, through a
real Celery worker, against a stand-in provider that enforces a per-minute limit as the real
ones do; the floor is the time the provider's rate allows for the calls made.

    python -m bench.bench_refresh                    # 20,000 tokens, 5,000 protocols, 500 a minute
    python -m bench.bench_refresh --tokens 2000 --protocols 500 --behind 100 --rate 120 \
        --demo-tokens 2000 --demo-rate 10            # a quick check, about 3 minutes

Steps: build the universe in a dedicated database (tokens, 120 days of prices and revenue,
snapshots, revenue reports: setup, not measured); serve CoinGecko and DefiLlama from a local
server process (SyntheticData, bodies built once) that refuses requests past its rolling
per-minute limit (429 with retry-after); then for each scenario start
``celery -A config worker --concurrency 1`` with the client's limit equal to the server's,
send the refresh task and time it until its SyncRun's finished_at. The server counts the
requests it served and refused. Results are printed and written to
bench/results/refresh-limited-<date>.json. See bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import math
import multiprocessing
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.refresh_setup import (  # noqa: E402
    PER_PAGE,
    WINDOW,
    Universe,
    checkpoint,
    ensure_database,
    log_to_file,
    migrate,
    run_lock,
    say,
    serve,
    server_limits,
    setup_universe,
)
from bench.refresh_worker import CpuMeter, Worker  # noqa: E402

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accrual_bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
GOAL = 1.25  # a refresh's wall time within GOAL × its requests ÷ the rate
RESULTS_DIR = ROOT / "bench" / "results"


# --- Scenarios and their measurement ---------------------------------------------------

PROVIDER_ENDPOINTS = {
    "/cg": ("markets", "market_chart", "coingecko_other"),
    "/llama": ("summary_fees", "overview_fees", "defillama_other"),
}


@dataclass
class Scenario:
    """One refresh against the server, the client and the server both at ``rate`` a minute."""

    name: str
    task: str
    kind: str  # the SyncRun's kind
    prefix: str  # the provider's path on the server
    rate: int
    what: str
    kwargs: dict = field(default_factory=dict)


def server_stats(server_url: str) -> dict[str, dict[str, int]]:
    import httpx

    return httpx.get(f"{server_url}/_stats", timeout=10).json()


def _counted(before: dict, after: dict, endpoints: tuple[str, ...], outcome: str) -> int:
    return sum(after.get(e, {}).get(outcome, 0) - before.get(e, {}).get(outcome, 0) for e in endpoints)


def client_log_counts(worker: Worker) -> dict[str, int]:
    """What the worker's client logged: retries after a 429, and waits of its own limiter."""
    text = worker.log_path.read_text(errors="replace")
    return {"retried_429": len(re.findall(r"failed \(HTTP 429", text)), "limiter_waits": text.count("window full")}


def measure_refresh(app, worker: Worker, server_url: str, scenario: Scenario, timeout: float) -> dict:
    """Send the scenario's task, wait until the worker reports it done (after any retries),
    and time it from the send to the ``finished_at`` of its newest SyncRun; the requests
    are the server's counts for the scenario's provider."""
    from django.utils import timezone

    from apps.tokens.models import SyncRun

    before = server_stats(server_url)
    worker.read_log()
    sent_at = timezone.now()
    task_id = app.send_task(scenario.task, kwargs=scenario.kwargs).id
    deadline = time.monotonic() + timeout
    last_note = time.monotonic()
    while (outcome := worker.task_outcome(task_id)) is None:
        worker.check_alive()
        if time.monotonic() > deadline:
            raise RuntimeError(f"{scenario.task} did not finish within {timeout:.0f}s")
        if time.monotonic() - last_note > 30:
            last_note = time.monotonic()
            now = server_stats(server_url)
            endpoints = PROVIDER_ENDPOINTS[scenario.prefix]
            say(
                f"  … {scenario.name} running: {_counted(before, now, endpoints, 'served')} served, "
                f"{_counted(before, now, endpoints, 'refused')} refused so far"
            )
        time.sleep(0.1)
    after = server_stats(server_url)
    run = SyncRun.objects.filter(kind=scenario.kind, started_at__gte=sent_at).order_by("-started_at").first()
    if run is None or run.finished_at is None:
        raise RuntimeError(f"{scenario.task} {outcome} without a finished {scenario.kind} run; log {worker.log_path}")
    seconds = (run.finished_at - sent_at).total_seconds()
    endpoints = PROVIDER_ENDPOINTS[scenario.prefix]
    served = _counted(before, after, endpoints, "served")
    refused = _counted(before, after, endpoints, "refused")
    floor = served / (scenario.rate / WINDOW)
    # From an empty window a client may send `rate` at once, so R requests can end after
    # (⌈R/rate⌉ − 1) windows: below R ÷ rate when the last window is not full.
    window_floor = (math.ceil(served / scenario.rate) - 1) * WINDOW if served else 0.0
    return {
        "task": scenario.task,
        "task_kwargs": {k: (len(v) if isinstance(v, list) else v) for k, v in scenario.kwargs.items()},
        "task_id": task_id,
        "task_outcome": outcome,
        "task_retries": worker.retries(task_id),
        "status": run.status,
        "error": run.error[:500],
        "seconds": round(seconds, 2),
        "queue_seconds": round((run.started_at - sent_at).total_seconds(), 3),
        "rows": run.rows_written,
        "run_pages": run.pages,
        "run_retries": run.retries,
        "requests": {
            "sent": served + refused,
            "served": served,
            "refused_429": refused,
            "by_endpoint": {
                e: {o: after.get(e, {}).get(o, 0) - before.get(e, {}).get(o, 0) for o in ("served", "refused")}
                for e in endpoints
                if e in after
            },
        },
        "floor_seconds": round(floor, 2),
        "window_floor_seconds": round(window_floor, 2),
        "ratio": round(seconds / floor, 3) if floor else None,
        "window_ratio": round(seconds / window_floor, 3) if window_floor else None,
        "client": client_log_counts(worker),
    }


def warm_worker(app, worker: Worker) -> None:
    """One trivial task first, so the measured runs don't pay the child's first-task costs."""
    task_id = app.send_task("tokens.recompute_snapshots", kwargs={"token_ids": []}).id
    worker.wait_for_log(f"[{task_id}] succeeded", 60, "the warm-up task")


# --- Main ------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=20_000, help="tokens with a CoinGecko id (default 20000)")
    parser.add_argument("--protocols", type=int, default=5_000, help="of which with a DefiLlama slug (default 5000)")
    parser.add_argument(
        "--behind",
        type=int,
        default=None,
        help="protocols six days behind, fetched one by one (default a tenth); the others are\n"
        "one day behind and take yesterday from the overview",
    )
    parser.add_argument("--rate", type=int, default=500, help="requests a minute, server and client (default 500)")
    parser.add_argument(
        "--demo-tokens", type=int, default=15_000, help="tokens in the demo-plan market refresh (default 15000)"
    )
    parser.add_argument("--demo-rate", type=int, default=30, help="the demo plan's requests a minute (default 30)")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL)
    parser.add_argument("--timeout", type=float, default=900, help="seconds to wait for each refresh")
    parser.add_argument("--check", action="store_true", help="exit 1 if a refresh misses the goal")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if not 1 <= args.tokens <= 99_999 or not 0 <= args.protocols <= args.tokens:
        parser.error("need 1 <= --tokens <= 99999 and 0 <= --protocols <= --tokens")
    args.behind = args.protocols // 10 if args.behind is None else args.behind
    if not 0 <= args.behind <= args.protocols:
        parser.error("need 0 <= --behind <= --protocols")
    if args.rate < 1 or args.demo_rate < 1 or args.demo_tokens < 0:
        parser.error("rates must be at least 1, --demo-tokens at least 0")
    args.demo_tokens = min(args.demo_tokens, args.tokens)
    name = urlsplit(args.database_url).path.lstrip("/")
    if "bench" not in name:
        parser.error(f"the benchmark empties its database; {name!r} does not look like a benchmark database")
    return args


def scenarios(args: argparse.Namespace, u: Universe) -> list[Scenario]:
    calls = -(-args.tokens // PER_PAGE)
    demo_calls = -(-args.demo_tokens // PER_PAGE)
    found = [
        Scenario(
            "markets",
            "tokens.refresh_markets",
            "markets",
            "/cg",
            args.rate,
            f"{args.tokens} tokens ({calls} calls) at {args.rate}/min",
        ),
    ]
    if args.protocols:
        found.append(
            Scenario(
                "revenue",
                "tokens.refresh_revenue",
                "revenue-history",
                "/llama",
                args.rate,
                f"{args.protocols} protocols, {args.behind} of them behind ({3 + 3 * args.behind} calls)"
                f" at {args.rate}/min",
            )
        )
    if args.demo_tokens:
        found.append(
            Scenario(
                "markets-demo",
                "tokens.refresh_markets",
                "markets",
                "/cg",
                args.demo_rate,
                f"{args.demo_tokens} tokens ({demo_calls} calls) at {args.demo_rate}/min",
                # The demo plan's universe: a later refresh of the day, so nothing new is written.
                {"token_ids": [u.token_ids[i] for i in range(1, args.demo_tokens + 1)]},
            )
        )
    return found


def git_state() -> dict:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return result.stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(git("status", "--porcelain", "--", "apps", "config"))}


BUSY_SHARE = 0.1  # warn when other processes used more than this share of the machine…
BUSY_SECONDS = 0.5  # … and at least this much CPU time


def is_busy(cpu: dict) -> bool:
    return cpu["other_share"] > BUSY_SHARE and cpu["other_seconds"] >= BUSY_SECONDS


def print_table(results: dict) -> None:
    print()
    header = (
        f"{'refresh':<14}{'rate/min':>9}{'sent':>7}{'429s':>6}{'wall s':>9}{'floor s':>9}{'ratio':>7}"
        f"{'window floor s':>16}{'÷ it':>7}  goal ≤{GOAL:g}× floor"
    )
    print(header)
    print("-" * len(header))
    for name, r in results.items():
        requests = r["requests"]
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "—"
        window_ratio = f"{r['window_ratio']:.2f}" if r["window_ratio"] is not None else "—"
        print(
            f"{name:<14}{r['rate_per_minute']:>9}{requests['sent']:>7}{requests['refused_429']:>6}{r['seconds']:>9.1f}"
            f"{r['floor_seconds']:>9.1f}{ratio:>7}{r['window_floor_seconds']:>16.1f}{window_ratio:>7}  {r['verdict']}"
            f"{'' if r['status'] == 'succeeded' else ' (' + r['status'] + ')'}"
        )
    print(
        "(sent = served + refused, counted by the server; floor = served ÷ rate; ratio = wall ÷ floor;\n"
        " window floor = (⌈served ÷ rate⌉ − 1) × 60 s, what a client starting from an empty window could reach;\n"
        " ÷ it = wall ÷ window floor)"
    )
    for name, r in results.items():
        if r["window_ratio"] is not None and r["window_ratio"] > GOAL:
            print(f"NOTE: {name} took {r['window_ratio']:.2f}× its window floor: the client lost time to the limit.")
    noisy = [name for name, r in results.items() if is_busy(r["cpu"])]
    if noisy:
        print(f"WARNING: the machine was busy with other work during: {', '.join(noisy)}.")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    today = dt.datetime.now(dt.UTC).date()
    workdir = Path(tempfile.mkdtemp(prefix="accrual-bench-"))
    say(
        f"refresh benchmark: {args.tokens} tokens, {args.protocols} protocols ({args.behind} behind), "
        f"{args.rate}/min; demo plan {args.demo_tokens} tokens at {args.demo_rate}/min; today {today}; "
        f"logs in {workdir}"
    )

    # The server process starts first: forked before Django or any database connection exists.
    context = multiprocessing.get_context("fork")
    parent_end, child_end = context.Pipe()
    server_process = context.Process(
        target=serve, args=(child_end, args.tokens, args.protocols, today.isoformat()), name="bench-server", daemon=True
    )
    server_process.start()
    worker: Worker | None = None
    previous_sigterm = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    lock = None
    try:
        lock = run_lock(args.database_url, args.redis_url)  # after the fork: the server must not share its socket
        if not parent_end.poll(60):
            raise RuntimeError("the provider server did not start")
        server_url = parent_end.recv()
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV": "development",
            "DEBUG": "false",
            "DATABASE_URL": args.database_url,
            "REDIS_URL": args.redis_url,
            "ACCRUAL_DATA_MODE": "live",
            "COINGECKO_BASE_URL": f"{server_url}/cg",
            "DEFILLAMA_BASE_URL": f"{server_url}/llama",
            "COINGECKO_MONTHLY_QUOTA": "0",  # the bench measures pace, not the month's budget
            "DEFILLAMA_MONTHLY_QUOTA": "0",
            "PROVIDER_READ_TIMEOUT": "60",
        }
        env.pop("COINGECKO_API_KEY", None)
        env.pop("DEFILLAMA_API_KEY", None)
        os.environ.clear()
        os.environ.update(env)
        say(f"provider server {server_url} (process {server_process.pid}); building responses")

        ensure_database(args.database_url)
        migrate(env)
        import django

        django.setup()
        log_to_file(workdir / "bench.log")
        import redis
        from celery import Celery

        broker = redis.Redis.from_url(args.redis_url)
        broker.flushdb()
        universe = Universe(args.tokens, args.protocols, args.behind, today)
        setup_universe(universe)

        if not parent_end.poll(600):
            raise RuntimeError("the provider server did not finish building its responses")
        parent_end.recv()
        say("provider server ready")

        app = Celery(broker=args.redis_url)
        results: dict = {}
        for scenario in scenarios(args, universe):
            # Each scenario starts from rest: no request in either window, the client's limiter,
            # circuit and locks forgotten (the worker is stopped, so the broker holds nothing).
            if worker is not None:
                worker.stop()
            broker.flushdb()
            server_limits(parent_end, {"/cg": scenario.rate, "/llama": scenario.rate})
            worker_env = {
                **env,
                "COINGECKO_RATE_LIMIT_PER_MINUTE": str(scenario.rate),
                "DEFILLAMA_RATE_LIMIT_PER_MINUTE": str(scenario.rate),
            }
            worker = Worker(worker_env, workdir / f"worker-{scenario.name}.log")
            worker.start()
            warm_worker(app, worker)
            worker.wait_idle(broker, 60)
            checkpoint()
            say(f"{scenario.name}: {scenario.what}, through the worker ({scenario.task})")
            cpu: dict = {}
            with CpuMeter(server_process.pid, worker, args.database_url).measure(cpu):
                result = measure_refresh(app, worker, server_url, scenario, args.timeout)
            result.update(cpu, scenario=scenario.what, rate_per_minute=scenario.rate)
            requests = result["requests"]
            say(
                f"{scenario.name}: {result['seconds']:.1f}s for {requests['sent']} requests "
                f"({requests['refused_429']} refused with 429), floor {result['floor_seconds']:.1f}s, "
                f"{result['rows']} rows, {result['status']}"
            )
            result["follow_ups"] = worker.wait_idle(broker, args.timeout)
            for follow_up in result["follow_ups"]:
                say(f"{scenario.name}: then the worker ran {follow_up['task']} ({follow_up['outcome']})")
            ok = (
                result["status"] == "succeeded"
                and not result["task_retries"]
                and result["ratio"] is not None
                and result["ratio"] <= GOAL
            )
            if result["task_retries"]:
                say(f"{scenario.name}: WARNING the task was retried {result['task_retries']}×; see {worker.log_path}")
            results[scenario.name] = {**result, "verdict": "PASS" if ok else "FAIL"}
        app.close()
        if worker is not None:
            worker.stop()

        print_table(results)

        sizes = (args.tokens, args.protocols, args.behind, args.rate, args.demo_tokens, args.demo_rate)
        default = sizes == (20_000, 5_000, 500, 500, 15_000, 30)
        stamp = today.isoformat() + ("" if default else f"-{args.tokens}x{args.protocols}-{args.rate}")
        args.results_dir.mkdir(parents=True, exist_ok=True)
        report = {
            "benchmark": "refresh-limited",
            "date": today.isoformat(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "command": " ".join([Path(sys.executable).name, "-m", "bench.bench_refresh", *(argv or sys.argv[1:])]),
            "tokens": args.tokens,
            "protocols": args.protocols,
            "protocols_behind": args.behind,
            "rate_per_minute": args.rate,
            "demo_tokens": args.demo_tokens,
            "demo_rate_per_minute": args.demo_rate,
            "goal_ratio": GOAL,
            "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
            "git": git_state(),
            **results,
        }
        path = args.results_dir / f"refresh-limited-{stamp}.json"
        for run in range(2, 100):  # a day's later runs keep the earlier ones
            if not path.exists():
                break
            path = args.results_dir / f"refresh-limited-{stamp}-run{run}.json"
        path.write_text(json.dumps(report, indent=2) + "\n")
        say(f"results written to {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        failed = [name for name, r in results.items() if r["verdict"] != "PASS"]
        return 1 if args.check and failed else 0
    except Exception:
        if worker is not None:
            print(f"--- worker log (tail) ---\n{worker.tail()}", file=sys.stderr)
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
        if worker is not None:
            worker.stop()
        if lock is not None:
            lock.close()
        with contextlib.suppress(OSError):
            parent_end.send("stop")
        server_process.join(10)
        if server_process.is_alive():
            server_process.terminate()
            server_process.join(5)
        say("stopped the worker and the provider server")


if __name__ == "__main__":
    sys.exit(main())
