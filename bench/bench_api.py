"""API benchmark (issue 16): ``/api/v1/tokens/?page_size=100`` with a valid key, at 20,000
tokens, against a ceiling: a bare Django view on the same server answering the same bytes from
memory. Goal: the API at ≥ 0.5 of the ceiling's requests/s, and its p99 under 50 ms.

    python -m bench.bench_api                      # setup once (a few minutes), then measure
    python -m bench.bench_api --requests 500       # fewer requests a side

* **Database**: ``--database-url``, else ``DATABASE_URL``, else
  ``postgres://postgres@127.0.0.1:5432/accrual_bench_api`` (created when missing; a name
  without ``bench`` is refused). Built once, kept: 20,000 synthetic tokens with ``--days``
  of history (``manage.py generate_synthetic_universe``; the list reads only the latest
  snapshot). Each run adds a reader on a plan of huge quotas and a key for it.
* **Server**: as bench_pages: gunicorn, 2 sync workers on 127.0.0.1, production settings, a
  ``SECRET_KEY`` made for the run, the Redis cache (and quota counters) at ``--redis-url``,
  database index 11 by default, flushed at start. ``bench/api_wsgi.py`` adds the ceiling.
* **Load**: another process, ``--clients`` threads each making its share of ``--requests``
  per side one after another (a new connection each: gunicorn's sync workers close them),
  within ``--max-seconds``; first 20 untimed requests a side, then ``--rounds`` alternating
  rounds of the ceiling and the API (a shared machine's load changes; alternating puts the
  change on both sides). Client times: requests/s over the side's wall time summed over its
  rounds, p50 and p99 per request. The API keeps
  a list's rendered page a minute (``ApiList``): its first request, which builds the page, is
  timed apart (``api_cold_ms``).

Results: printed, and ``bench/results/api-<date>.json`` with the commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from bench.bench_pages import _commit, _say, ensure_database, server_env, stop

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accrual_bench_api"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
RESULTS_DIR = ROOT / "bench" / "results"
END = dt.date(2026, 6, 30)  # a fixed last day, so the data (and the results) repeat
API_URL = "/api/v1/tokens/?page_size=100"
CEILING_URL = "/bench/ceiling/"
GOAL_RATIO = 0.5
GOAL_P99_MS = 50.0


def child_setup(args: argparse.Namespace) -> None:
    """The universe (once) and, every run, a reader on a plan of huge quotas with a key: the key
    is printed as the last line."""
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.accounts.models import Plan, User
    from apps.api.models import APIKey
    from apps.api.services import api_key_create, api_key_revoke
    from apps.tokens.models import Token

    call_command("migrate", verbosity=0)
    have = Token.objects.filter(slug__startswith="synth-").count()
    # A generation cut short leaves the tokens without their snapshots: built again.
    built = Token.objects.filter(slug__startswith="synth-", latest_snapshot__isnull=False).count()
    if have != args.tokens or built != have:
        if have:
            call_command("generate_synthetic_universe", delete=True)
        _say(f"generating {args.tokens} synthetic tokens × {args.days} days (once)")
        call_command("generate_synthetic_universe", tokens=args.tokens, days=args.days, end=END)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE")
    plan, _ = Plan.objects.update_or_create(
        slug="bench-unlimited",
        defaults={"name": "Bench (unlimited)", "api_requests_per_minute": 10**8, "api_requests_per_month": 10**9},
    )
    user, _ = User.objects.get_or_create(email="bench-api@example.com", defaults={"plan": plan})
    if user.plan_id != plan.pk:
        user.plan = plan
        user.save(update_fields=["plan"])
    # Each run's key is new; the last runs' are revoked, as a reader rotating keys would (a
    # reader holds at most 10 active keys).
    for old in APIKey.objects.filter(user=user, revoked=False):
        api_key_revoke(key=old)
    _, plaintext = api_key_create(user=user, name=f"bench {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M}", scopes=["read"])
    print(plaintext)


def _get(url: str, key: str | None) -> tuple[int, float, bytes]:
    request = urllib.request.Request(url, headers={"X-API-Key": key} if key else {})
    began = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            body, status = response.read(), response.status
    except urllib.error.HTTPError as exc:
        body, status = exc.read(), exc.code
    return status, (time.perf_counter() - began) * 1000, body


def _round(url: str, key: str | None, requests: int, clients: int, deadline: float) -> tuple[list[float], dict, float]:
    """``requests`` GETs of ``url`` from ``clients`` threads: each request's time, the statuses,
    and the round's wall time."""
    times: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(share: int) -> None:
        for _ in range(share):
            if time.monotonic() > deadline:
                return
            status, ms, _ = _get(url, key)
            with lock:
                times.append(ms)
                statuses[status] = statuses.get(status, 0) + 1

    threads = [threading.Thread(target=client, args=(requests // clients,)) for _ in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return times, statuses, time.perf_counter() - began


def _summary(times: list[float], statuses: dict[int, int], seconds: float) -> dict:
    cuts = statistics.quantiles(times, n=100, method="inclusive")
    return {
        "requests": len(times),
        "seconds": round(seconds, 2),
        "requests_per_second": round(len(times) / seconds, 1),
        "p50_ms": round(cuts[49], 1),
        "p99_ms": round(cuts[98], 1),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
    }


def child_load(args: argparse.Namespace) -> None:
    """The two sides in alternating rounds, so a change in the machine's load between them
    (this machine is shared) falls on both alike."""
    plan = json.loads(Path(args.load).read_text())
    base, key, rounds = plan["base"], plan["key"], plan["rounds"]
    sides = {"ceiling": base + CEILING_URL, "api": base + API_URL}
    for url in sides.values():
        for _ in range(20):  # warm: each worker's first requests (imports, connections, caches)
            _get(url, key)
    totals = {name: ([], {}, 0.0) for name in sides}
    deadline = time.monotonic() + plan["max_seconds"]
    for _ in range(rounds):
        for name, url in sides.items():
            times, statuses, seconds = _round(url, key, plan["requests"] // rounds, plan["clients"], deadline)
            all_times, all_statuses, all_seconds = totals[name]
            all_times.extend(times)
            for status, count in statuses.items():
                all_statuses[status] = all_statuses.get(status, 0) + count
            totals[name] = (all_times, all_statuses, all_seconds + seconds)
    print(json.dumps({name: _summary(*total) for name, total in totals.items()}))


def start_server(args: argparse.Namespace, env: dict[str, str]) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "bench.api_wsgi",
        "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.workers),
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _get(f"http://127.0.0.1:{args.port}/api/v1/me", None)[0] == 401:
                return server
        except OSError:
            if server.poll() is not None:
                sys.exit("gunicorn exited at start")
            time.sleep(0.3)
    stop(server)
    sys.exit("gunicorn did not answer within 60 s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=10, help="history generated (the list reads the latest day)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8732)
    parser.add_argument("--clients", type=int, default=4, help="client threads")
    parser.add_argument("--requests", type=int, default=2000, help="timed requests a side")
    parser.add_argument("--rounds", type=int, default=4, help="alternating rounds of the two sides")
    parser.add_argument("--max-seconds", type=float, default=360, help="bound on the timed requests")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    parser.add_argument("--child", choices=["setup"], help=argparse.SUPPRESS)
    parser.add_argument("--load", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "setup":
        return child_setup(args)
    if args.load:
        return child_load(args)

    ensure_database(args.database_url)
    env = server_env(args)
    setup_env = {k: v for k, v in env.items() if k not in ("REDIS_URL", "SECRET_KEY")}
    setup_env.update(DJANGO_ENV="development", DEBUG="false")
    setup = [sys.executable, "-m", "bench.bench_api", "--child", "setup", "--tokens", str(args.tokens)]
    _say("setup (the universe built once, then reused)")
    began = time.monotonic()
    done = subprocess.run(
        [*setup, "--days", str(args.days)], cwd=ROOT, env=setup_env, check=True, stdout=subprocess.PIPE, text=True
    )
    key = done.stdout.strip().splitlines()[-1]
    _say(f"setup took {time.monotonic() - began:.0f} s")
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()

    work = Path(tempfile.mkdtemp(prefix="bench-api-"))
    payload = work / "payload.json"
    env["BENCH_API_PAYLOAD"] = str(payload)
    base = f"http://127.0.0.1:{args.port}"
    report: dict = {
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "tokens": args.tokens,
        "workers": args.workers,
        "clients": args.clients,
        "rounds": args.rounds,
        "url": API_URL,
        "load_before": round(os.getloadavg()[0], 2),
        "goal": {"ratio": GOAL_RATIO, "p99_ms": GOAL_P99_MS},
    }
    server = start_server(args, env)
    try:
        # The ceiling's bytes: the API's own answer, read before the ceiling's first request.
        status, cold_ms, body = _get(base + API_URL, key)
        if status != 200 or len(json.loads(body)["results"]) != 100:
            sys.exit(f"the API answered {status}: {body[:300]!r}")
        payload.write_bytes(body)
        report["bytes"] = len(body)
        report["api_cold_ms"] = round(cold_ms, 1)  # the page built, not yet kept (ApiList's cache)
        plan = work / "plan.json"
        plan.write_text(
            json.dumps(
                {
                    "base": base,
                    "key": key,
                    "requests": args.requests,
                    "clients": args.clients,
                    "rounds": args.rounds,
                    "max_seconds": args.max_seconds,
                }
            )
        )
        _say(f"load: {args.requests} requests a side from {args.clients} threads, in {args.rounds} alternating rounds")
        load = subprocess.run(
            [sys.executable, "-m", "bench.bench_api", "--load", str(plan)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True,
        )  # fmt: skip
    finally:
        stop(server)
    measured = json.loads(load.stdout.strip().splitlines()[-1])
    report.update(measured)
    ratio = measured["api"]["requests_per_second"] / measured["ceiling"]["requests_per_second"]
    report["ratio"] = round(ratio, 2)
    report["pass"] = ratio >= GOAL_RATIO and measured["api"]["p99_ms"] < GOAL_P99_MS

    print(
        f"\nAPI at {args.tokens:,} tokens, gunicorn × {args.workers}, {args.clients} clients, commit {report['commit']}"
    )
    print(f"{'side':<8} {'requests':>8} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}  statuses")
    for side in ("ceiling", "api"):
        r = measured[side]
        row = f"{side:<8} {r['requests']:>8} {r['requests_per_second']:>8} {r['p50_ms']:>7} {r['p99_ms']:>7}"
        print(f"{row}  {r['statuses']}")
    print(f"the API's first request (the page built, then kept a minute): {report['api_cold_ms']} ms")
    verdict = "PASS" if report["pass"] else "FAIL"
    p99 = measured["api"]["p99_ms"]
    print(f"ratio {ratio:.2f} (goal ≥ {GOAL_RATIO}), API p99 {p99} ms (goal < {GOAL_P99_MS}): {verdict}")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"api-{report['date']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
