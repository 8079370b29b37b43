"""Newsletter benchmark (issue 15): one issue sent to 10,000 confirmed subscribers through
``send_issue`` to a real SMTP server on 127.0.0.1 (aiosmtpd in its own process, counting and
discarding). Prints messages a second and database queries per message, at 10,000 and at
1,000 subscribers: the queries per message must be the same (constant), and a second send of
the issue must send nothing.

    python -m bench.bench_newsletter                         # 10,000 subscribers
    python -m bench.bench_newsletter --subscribers 2000      # quick check

Database: DATABASE_URL, else postgres://postgres@127.0.0.1:5432/accrual_bench_newsletter
(created if missing, migrated). **The benchmark empties the newsletter tables**, so it
refuses a database whose name does not contain ``bench``.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

from bench.bench_ratings import _commit, ensure_database

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/accrual_bench_newsletter"
RESULTS_DIR = ROOT / "bench" / "results"
BATCH_SIZE = 100


def say(message: str) -> None:
    print(f"  {message}", file=sys.stderr, flush=True)


def _smtp_server(port: int, received, ready) -> None:
    """The SMTP server's process: accepts every message, counts it, keeps nothing."""
    import logging

    from aiosmtpd.controller import Controller

    logging.getLogger("mail.log").setLevel(logging.WARNING)

    class Counter:
        async def handle_DATA(self, server, session, envelope):
            with received.get_lock():
                received.value += 1
            return "250 Message accepted"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    try:
        asyncio.run(asyncio.Event().wait())
    finally:
        controller.stop()


def _setup_django(url: str, smtp_port: int) -> None:
    os.environ.update(
        DATABASE_URL=url,
        EMAIL_HOST="127.0.0.1",
        EMAIL_PORT=str(smtp_port),
        EMAIL_USE_TLS="false",
        SITE_URL="https://accrual.example",
        LOG_LEVEL="WARNING",
    )
    os.environ.pop("DJANGO_ENV", None)
    os.environ.pop("REDIS_URL", None)  # the issue lock is process-local: one sender, as in one worker
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def render(subscription) -> tuple[str, str, str]:
    """A briefing-sized issue (about 6 kB of HTML), the same for everyone."""
    rows = "".join(f"<tr><td>Token {i}</td><td>${i * 1.7:,.1f}M</td><td>{i % 9}.{i % 7}%</td></tr>" for i in range(60))
    html = f"<html><body><h1>Accrual daily briefing</h1><table>{rows}</table></body></html>"
    text = "Accrual daily briefing\n" + "\n".join(f"Token {i}: ${i * 1.7:,.1f}M" for i in range(60))
    return "Accrual daily briefing", html, text


def build(subscribers: int) -> None:
    from django.core.management import call_command
    from django.db import connection
    from django.utils import timezone

    from apps.newsletter.models import Delivery, Subscription, SubscriptionStatus

    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {Delivery._meta.db_table}, {Subscription._meta.db_table} CASCADE")
    now = timezone.now()
    Subscription.objects.bulk_create(
        (
            Subscription(
                email=f"reader{n}@bench.invalid",
                status=SubscriptionStatus.CONFIRMED,
                signed_up_at=now,
                confirmed_at=now,
            )
            for n in range(subscribers)
        ),
        batch_size=5000,
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")


class QueryCounter:
    """Counts statements sent (CaptureQueriesContext keeps only the last 9,000)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


def measure(subscribers: int, received) -> dict:
    from django.db import connection

    from apps.newsletter.delivery import send_issue
    from apps.newsletter.models import Delivery

    build(subscribers)
    issue = f"bench:{subscribers}"
    at_server = received.value
    load = os.getloadavg()[0]
    began, cpu = time.monotonic(), time.process_time()
    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        result = send_issue(issue_key=issue, render=render, batch_size=BATCH_SIZE)
    seconds, cpu_seconds = time.monotonic() - began, time.process_time() - cpu
    deadline = time.monotonic() + 10
    while received.value - at_server < result.sent and time.monotonic() < deadline:
        time.sleep(0.01)
    got = received.value - at_server
    again_counter = QueryCounter()
    with connection.execute_wrapper(again_counter):
        again = send_issue(issue_key=issue, render=render, batch_size=BATCH_SIZE)
    assert again.sent == 0 and received.value - at_server == got, "a second send sent again"
    assert got == subscribers == result.sent, f"sent {result.sent}, server got {got}, of {subscribers}"
    assert Delivery.objects.filter(issue_key=issue, status="sent").count() == subscribers
    queries = counter.count
    row = {
        "subscribers": subscribers,
        "sent": result.sent,
        "received_by_server": got,
        "seconds": round(seconds, 2),
        "cpu_seconds": round(cpu_seconds, 2),
        "messages_per_second": round(result.sent / seconds, 1),
        "queries": queries,
        "queries_per_message": round(queries / result.sent, 3),
        "again_queries": again_counter.count,
        "batch_size": BATCH_SIZE,
        "load_before": round(load, 2),
    }
    say(json.dumps(row))
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=1_000, help="the second, smaller list")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL)
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args()
    url = args.database_url
    name = urlsplit(url).path.lstrip("/")
    if "bench" not in name:
        sys.exit(f"refusing database {name!r}: the benchmark empties it, and its name must contain 'bench'")
    ensure_database(url)

    from tests.support.smtp import free_port

    port = free_port()
    received, ready = multiprocessing.Value("q", 0), multiprocessing.Event()
    server = multiprocessing.Process(target=_smtp_server, args=(port, received, ready), daemon=True)
    server.start()
    try:
        if not ready.wait(30):
            sys.exit("the SMTP server did not start")
        _setup_django(url, port)
        print(f"newsletter benchmark on {urlsplit(url).hostname}/{name}, SMTP 127.0.0.1:{port}, {os.cpu_count()} CPUs")
        full = measure(args.subscribers, received)
        small = measure(args.small, received)
    finally:
        server.terminate()
        server.join(10)
    report = {
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "cpus": os.cpu_count(),
        "runs": [full, small],
    }
    # Constant: the per-message cost is the same at both sizes (only the last batch's overhead differs).
    flat = abs(full["queries_per_message"] - small["queries_per_message"]) < 0.05
    print(
        f"{full['sent']:,} messages in {full['seconds']:.2f} s: {full['messages_per_second']:,.0f} messages/s, "
        f"{full['queries_per_message']} queries a message ({full['queries']:,} in all); {small['sent']:,} messages: "
        f"{small['messages_per_second']:,.0f}/s, {small['queries_per_message']} queries a message "
        f"({'constant' if flat else 'NOT constant'}); sending again: {full['again_queries']} queries, nothing sent; "
        f"load average before: {full['load_before']}",
        flush=True,
    )
    args.results_dir.mkdir(parents=True, exist_ok=True)
    path = args.results_dir / f"newsletter-{report['date']}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"results: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}", flush=True)
    if not flat:
        sys.exit(1)


if __name__ == "__main__":
    main()
