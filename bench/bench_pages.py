"""Pages benchmark (issue 13): server time of every reader page at 20,000 tokens, and
Lighthouse's performance score of each in Chromium. Goal: every page under 30 ms median.

    python -m bench.bench_pages                    # setup once (20-60 minutes), then measure
    python -m bench.bench_pages --no-lighthouse    # server times only
    python -m bench.bench_pages --requests 100     # fewer requests per page
    python -m bench.bench_pages --pages screener   # one page (or a few)

* **Database**: ``--database-url``, else ``DATABASE_URL``, else
  ``postgres://postgres@127.0.0.1:5432/accrual_bench_pages`` (created when missing; a name
  without ``bench`` is refused). Built once, kept: 20,000 synthetic tokens with 200 days of
  history (``manage.py generate_synthetic_universe``), a snapshot for each token on every
  one of the last ``--snapshot-days`` days (copies of the newest, as a running system's
  snapshot table is as long as its price table), and ratings on every month-end and the
  last day (what the leaderboard and the track record read). Then VACUUM ANALYZE.
* **Server**: gunicorn, 2 sync workers on 127.0.0.1, production settings
  (``DJANGO_ENV=production``, DEBUG off, manifest static files, a random ``SECRET_KEY`` made
  for the run, the Redis cache at ``--redis-url``, database index 11 by default, flushed at start).
  **Server time** is gunicorn's own ``%(D)s`` (microseconds from reading the request to the
  last byte written), from its access log; beside it the worker's CPU time for the request
  (``bench/pages_wsgi.py`` adds it as a ``Server-Timing`` header), which a busy machine
  inflates far less than the wall time.
* **Load**: another process (``--load``) requests each page as a new reader would (no
  cookie, one request at a time by default): home; the screener under several sorts and
  filters; four token pages; the ratings leaderboard under several sorts and filters; the
  track record. First every URL once (the cold times, reported apart: the first request of
  a process or of a cache), then ``--requests`` per page, spread over its URLs in a fixed
  shuffled order, within ``--max-seconds``.
* **Lighthouse** (``bench/package.json``, installed into ``bench/node_modules`` on first use
  by npm): performance category only, headless ``/usr/bin/chromium`` (``CHROME_PATH``), one
  URL per page, its default mobile emulation and simulated throttling; three runs a page, the
  median score reported (all are in the JSON).

Results: a table, and ``bench/results/pages-<date>.json`` with every URL's numbers and the commit.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accrual_bench_pages"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
RESULTS_DIR = ROOT / "bench" / "results"
END = dt.date(2026, 6, 30)  # a fixed last day, so the data (and the results) repeat
GOAL_MS = 30.0
LIGHTHOUSE_GOAL = 95
PAGES = ("home", "screener", "token", "token-data", "ratings", "track-record")
# Lighthouse loads pages, not the JSON a page's script fetches.
LIGHTHOUSE_PAGES = ("home", "screener", "token", "ratings", "track-record")


def page_urls(tokens: int) -> dict[str, list[str]]:
    """What a reader asks for, page by page: the default view and a spread of sorts and filters."""
    slugs = [f"synth-{i:05d}" for i in sorted({0, tokens // 4, tokens // 2 + 7, tokens - 1})]
    return {
        "home": ["/"],
        "screener": [
            "/tokens/",
            "/tokens/?sort=revenue&dir=desc",
            "/tokens/?sort=ps&dir=asc",
            "/tokens/?sort=holder_yield&dir=desc&page=3",
            "/tokens/?sort=name&dir=asc",
            "/tokens/?category=lending",
            "/tokens/?chain=solana&sort=growth_30d&dir=desc",
            "/tokens/?mcap_min=100&ps_max=20&sort=ps&dir=asc",
            "/tokens/?q=S123",
        ],
        "token": [f"/tokens/{slug}/" for slug in slugs],
        # What the token page's charts fetch once scrolled to (absent before issue 13: then the
        # series were inline in the page).
        "token-data": [f"/tokens/{s}/charts/" for s in slugs[:2]] + [f"/ratings/{s}/history/" for s in slugs[:2]],
        "ratings": [
            "/ratings/",
            "/ratings/?grade=trader",
            "/ratings/?sort=market_cap&dir=desc",
            "/ratings/?sort=revenue&dir=asc&page=2",
            "/ratings/?category=spot-dex",
            "/ratings/?band=A",
        ],
        "track-record": ["/ratings/track-record/"],
    }


# --- Setup, in a child process (Django reads DATABASE_URL once) ------------------------------


def month_ends_through(end: dt.date, days: int) -> list[dt.date]:
    first = end - dt.timedelta(days=days - 1)
    ends, month = [], first.replace(day=1)
    while month <= end:
        following = (month + dt.timedelta(days=32)).replace(day=1)
        last = following - dt.timedelta(days=1)
        if first <= last < end:
            ends.append(last)
        month = following
    return [*ends, end]


def child_setup(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.ratings.models import Rating
    from apps.ratings.services import ratings_recompute
    from apps.tokens.models import MetricSnapshot, Token

    call_command("migrate", verbosity=0)
    have = Token.objects.filter(slug__startswith="synth-").count()
    if have != args.tokens:
        if have:
            call_command("generate_synthetic_universe", delete=True)
        _say(f"generating {args.tokens} synthetic tokens × {args.days} days (once; takes a while)")
        call_command("generate_synthetic_universe", tokens=args.tokens, days=args.days, end=END)
    # Older snapshots: copies of the newest, one day at a time (as daily refreshes lay them
    # out), so the table and its indexes are as long as a running system's.
    table = MetricSnapshot._meta.db_table
    columns = [f.column for f in MetricSnapshot._meta.concrete_fields if f.column not in ("id", "date")]
    listed = ", ".join(f'"{c}"' for c in columns)
    for back in range(args.snapshot_days - 1, 0, -1):
        day = END - dt.timedelta(days=back)
        if MetricSnapshot.objects.filter(date=day).exists():
            continue
        with connection.cursor() as cursor:
            cursor.execute(
                f'INSERT INTO {table} ({listed}, "date") SELECT {listed}, %s FROM {table} WHERE "date" = %s',
                [day, END],
            )
        _say(f"snapshots copied to {day}")
    for day in month_ends_through(END, args.days):
        if Rating.objects.filter(date=day).count() < args.tokens // 2:
            began = time.monotonic()
            ratings_recompute(day=day)
            _say(f"rated {day} in {time.monotonic() - began:.1f} s")
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


# --- The load generator, in its own process ----------------------------------------------------


def child_load(args: argparse.Namespace) -> None:
    """Request each URL once (cold), then the plan; print the client times as JSON."""
    plan = json.loads(Path(args.load).read_text())
    base = plan["base"]

    def get(url: str) -> tuple[int, float, int]:
        began = time.perf_counter()
        try:
            with urllib.request.urlopen(base + url, timeout=60) as response:
                body = response.read()
                status = response.status
        except urllib.error.HTTPError as exc:
            body, status = exc.read(), exc.code
        return status, (time.perf_counter() - began) * 1000, len(body)

    cold = {url: get(url) for urls in plan["pages"].values() for url in urls}
    deadline = time.monotonic() + plan["max_seconds"]
    timed: list[tuple[str, int, float, int]] = []
    for url in plan["order"]:
        if cold[url][0] == 404:  # an endpoint the measured code does not have
            continue
        if time.monotonic() > deadline:
            break
        timed.append((url, *get(url)))
    print(json.dumps({"cold": cold, "timed": timed}))


# --- Measuring ------------------------------------------------------------------------------------


def _say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _commit() -> str | None:
    """The code measured: HEAD, marked "+dirty" when the working tree has changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")


def ensure_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing database {name!r}: the benchmark's database name must contain 'bench'")
    with psycopg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")), autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            _say(f"created database {name}")


def server_env(args: argparse.Namespace) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DJANGO_ENV", "DEBUG")}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),  # made for the run, never stored
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",  # plain HTTP on loopback
        LOG_LEVEL="WARNING",
    )
    return env


def start_server(args: argparse.Namespace, env: dict[str, str], log: Path) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "gunicorn", "bench.pages_wsgi",
        "--bind", f"127.0.0.1:{args.port}", "--workers", str(args.workers),
        "--access-logfile", str(log), "--access-logformat", "%(U)s?%(q)s %(s)s %(D)s %({server-timing}o)s",
    ]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{args.port}/static/favicon.svg", timeout=2).read()
            return server
        except OSError:
            if server.poll() is not None:
                sys.exit("gunicorn exited at start")
            time.sleep(0.3)
    stop(server)
    sys.exit("gunicorn did not answer within 60 s")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)


def server_times(log: Path) -> list[tuple[str, int, float, float]]:
    """(URL, status, milliseconds, the worker's CPU milliseconds) from gunicorn's access log, in order."""
    rows = []
    for line in log.read_text().splitlines():
        url, status, micros, timing = line.rsplit(" ", 3)
        url = url.removesuffix("?")  # %(q)s is empty without a query
        cpu = float(timing.split("dur=")[1]) if "dur=" in timing else float("nan")
        rows.append((url, int(status), int(micros) / 1000, cpu))
    return rows


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[98] if len(values) > 1 else values[0]


def median_or_none(values: list[float]) -> float | None:
    return round(statistics.median(values), 1) if values else None


def lighthouse(url: str, out: Path) -> dict:
    """Lighthouse's performance score and the figures behind it, for one URL."""
    cli = ROOT / "bench" / "node_modules" / "lighthouse" / "cli" / "index.js"
    if not cli.exists():
        _say("installing Lighthouse into bench/node_modules (npm)")
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=ROOT / "bench", check=True)
    env = {**os.environ, "CHROME_PATH": shutil.which("chromium") or "/usr/bin/chromium"}
    command = ["node", str(cli), url, "--only-categories=performance", "--output=json", f"--output-path={out}"]
    command += ["--quiet", "--chrome-flags=--headless=new --no-sandbox --disable-dev-shm-usage"]
    subprocess.run(command, env=env, check=True, timeout=180)
    report = json.loads(out.read_text())
    audits = report["audits"]
    document = next(
        (r for r in audits["network-requests"]["details"]["items"] if r.get("resourceType") == "Document"), {}
    )
    return {
        "score": round(report["categories"]["performance"]["score"] * 100),
        "fcp_ms": round(audits["first-contentful-paint"]["numericValue"]),
        "lcp_ms": round(audits["largest-contentful-paint"]["numericValue"]),
        "tbt_ms": round(audits["total-blocking-time"]["numericValue"]),
        "cls": round(audits["cumulative-layout-shift"]["numericValue"], 3),
        "html_bytes": document.get("resourceSize"),
        "total_bytes": round(audits["total-byte-weight"]["numericValue"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--redis-url", default=DEFAULT_REDIS_URL)
    parser.add_argument("--tokens", type=int, default=20_000)
    parser.add_argument("--days", type=int, default=200)
    parser.add_argument("--snapshot-days", type=int, default=200, help="days with a snapshot for every token")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8731)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per page")
    parser.add_argument("--max-seconds", type=float, default=300, help="bound on the timed requests")
    parser.add_argument("--pages", nargs="+", choices=PAGES, default=PAGES, help="measure only these pages")
    parser.add_argument("--no-lighthouse", action="store_true")
    parser.add_argument("--lighthouse-runs", type=int, default=3, help="runs per page; the median is reported")
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
    # Setup runs without Redis: tasks it might queue (alerts) run eagerly or not at all.
    setup_env = {k: v for k, v in env.items() if k not in ("REDIS_URL", "SECRET_KEY")}
    setup_env.update(DJANGO_ENV="development", DEBUG="false")
    setup = [sys.executable, "-m", "bench.bench_pages", "--child", "setup", "--tokens", str(args.tokens)]
    setup += ["--days", str(args.days), "--snapshot-days", str(args.snapshot_days)]
    _say("setup (built once, then reused)")
    subprocess.run(setup, cwd=ROOT, env=setup_env, check=True)
    subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"], cwd=ROOT, env=env, check=True)
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()

    pages = {page: urls for page, urls in page_urls(args.tokens).items() if page in args.pages}
    page_of = {url: page for page, urls in pages.items() for url in urls}
    rng = random.Random(13)
    order = []
    for urls in pages.values():
        order += [urls[n % len(urls)] for n in range(args.requests)]
    rng.shuffle(order)
    base = f"http://127.0.0.1:{args.port}"
    work = Path(tempfile.mkdtemp(prefix="bench-pages-"))
    log = work / "access.log"
    server = start_server(args, env, log)
    report: dict = {
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "tokens": args.tokens,
        "workers": args.workers,
        "load_before": round(os.getloadavg()[0], 2),
        "goal_ms": GOAL_MS,
    }
    try:
        log.write_text("")
        plan = work / "plan.json"
        plan.write_text(json.dumps({"base": base, "pages": pages, "order": order, "max_seconds": args.max_seconds}))
        _say(f"load: {len(order)} requests after one of each URL")
        load = subprocess.run(
            [sys.executable, "-m", "bench.bench_pages", "--load", str(plan)],
            cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, check=True,
        )  # fmt: skip
        client = json.loads(load.stdout.strip().splitlines()[-1])
        time.sleep(0.5)  # the access log is written after the response
        rows = server_times(log)
        cold_count = len(client["cold"])
        cold, timed = rows[:cold_count], rows[cold_count:]
        bad = [(url, status) for url, status, *_ in rows if status not in (200, 404)]
        if bad:
            _say(f"not 200: {bad[:5]}")
        results = {}
        for page in pages:
            present = [url for url in pages[page] if client["cold"][url][0] != 404]
            if not present:
                continue
            times = [ms for url, _, ms, _ in timed if page_of.get(url) == page]
            cpu = [c for url, _, _, c in timed if page_of.get(url) == page]
            by_url = {
                url: {
                    "cold_ms": next(round(ms, 1) for u, _, ms, _ in cold if u == url),
                    "median_ms": median_or_none([ms for u, _, ms, _ in timed if u == url]),
                    "bytes": client["cold"][url][2],
                }
                for url in present
            }
            results[page] = {
                "requests": len(times),
                "median_ms": median_or_none(times),
                "p99_ms": round(p99(times), 1) if times else None,
                "median_cpu_ms": median_or_none(cpu),
                "urls": by_url,
            }
        report["pages"] = results
        client_times = [ms for _, _, ms, _ in client["timed"]]
        report["client_median_ms"] = median_or_none(client_times)
        if not args.no_lighthouse:
            for page in (page for page in LIGHTHOUSE_PAGES if page in pages):
                url = pages[page][0]
                _say(f"lighthouse {url} × {args.lighthouse_runs}")
                runs = [lighthouse(base + url, work / f"lighthouse-{page}.json") for _ in range(args.lighthouse_runs)]
                # The run of median score: one run on a shared machine can be far off.
                results[page]["lighthouse"] = sorted(runs, key=lambda run: run["score"])[len(runs) // 2]
                results[page]["lighthouse_scores"] = [run["score"] for run in runs]
    finally:
        stop(server)

    print(f"\npages at {args.tokens:,} tokens, gunicorn × {args.workers}, commit {report['commit']}")
    header = f"{'page':<13} {'requests':>8} {'median ms':>10} {'p99 ms':>8} {'CPU ms':>7}"
    print(f"{header}  {'lighthouse':>10}  LCP / TBT / HTML")
    for page, r in results.items():
        lh = r.get("lighthouse")
        lh_text = f"{lh['score']:>10}  {lh['lcp_ms']} ms / {lh['tbt_ms']} ms / {lh['html_bytes']} B" if lh else ""
        verdict = "PASS" if r["median_ms"] is not None and r["median_ms"] < GOAL_MS else "FAIL"
        row = f"{page:<13} {r['requests']:>8} {r['median_ms']:>10} {r['p99_ms']:>8} {r['median_cpu_ms']:>7}"
        print(f"{row}  {lh_text}  {verdict}")
        for url, u in r["urls"].items():
            print(f"    {url:<52} median {u['median_ms']} ms, cold {u['cold_ms']} ms, {u['bytes']:,} B")
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"pages-{report['date']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
