"""RELIABILITY 8 (and 5 through gunicorn's own log): a real gunicorn with several workers on
the test PostgreSQL and Redis; several processes fire 5× the plan's per-minute limit at once
with one valid key, and at most the limit succeed.

GIVEN a reader on a plan of L requests a minute and a key
WHEN 5×L requests arrive at the same moment from four processes, through three web workers
THEN exactly L are answered 200 and the rest 429 with Retry-After and the plan's headers.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from apps.accounts.models import Plan
from tests.accounts.conftest import make_reader
from tests.api.conftest import REDIS_URL_FOR_TESTS, new_key
from tests.support.http_burst import fire, get
from tests.support.redis_server import free_port

pytestmark = [pytest.mark.server, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 20
CLIENTS = 4


@pytest.fixture
def gunicorn(redis_namespace, tmp_path):
    if connection.vendor != "postgresql":
        (pytest.fail if os.environ.get("CI") else pytest.skip)("the server shares the test database: needs PostgreSQL")
    db = connection.settings_dict
    port = free_port()
    log_path = tmp_path / "gunicorn.log"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_ALLOW_ASYNC_UNSAFE"},
        "DJANGO_ENV": "test",
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "REDIS_URL": REDIS_URL_FOR_TESTS,
        "ACCRUAL_API_QUOTA_KEY_PREFIX": redis_namespace,
        "ALLOWED_HOSTS": "127.0.0.1",
    }
    # The Procfile's command; gunicorn reads ./gunicorn.conf.py (its access log format) itself.
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--workers", "3"]
    with log_path.open("w") as log:
        process = subprocess.Popen([*command, "--access-logfile", "-"], cwd=ROOT, env=env, stdout=log, stderr=log)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if get(f"{base}/api/v1/me", None)[0] == 401:
                    break
            except OSError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"gunicorn did not start: {log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield base, log_path
    finally:
        process.terminate()
        process.wait(20)


def test_five_times_the_limit_at_once_lets_at_most_the_limit_through(gunicorn):
    base, log_path = gunicorn
    plan = Plan.objects.create(name="Small", slug="small", api_requests_per_minute=LIMIT, api_requests_per_month=10_000)
    reader = make_reader("burst@example.com", plan=plan)
    _, plaintext = new_key(reader)
    # All in one minute window: start early enough in the minute.
    if time.time() % 60 > 40:
        time.sleep(60 - time.time() % 60 + 0.5)

    start_at = time.time() + 2
    share = 5 * LIMIT // CLIENTS
    with multiprocessing.get_context("spawn").Pool(CLIENTS) as pool:
        batches = pool.starmap(fire, [(f"{base}/api/v1/me", plaintext, share, start_at)] * CLIENTS)
    answers = [answer for batch in batches for answer in batch]

    statuses = [status for status, _ in answers]
    assert len(answers) == 5 * LIMIT and set(statuses) <= {200, 429}
    assert statuses.count(200) == LIMIT
    for status, headers in answers:
        assert headers["RateLimit-Policy"].startswith(f'"minute";q={LIMIT};w=60, "month";q=10000;')
        assert headers["RateLimit"].startswith('"minute";r=')
        if status == 429:
            assert headers["Content-Type"] == "application/problem+json"
            assert int(headers["Retry-After"]) >= 1

    # A key sent in a URL is refused and stays out of gunicorn's access log.
    assert get(f"{base}/api/v1/me?api_key={plaintext}", None)[0] == 400
    time.sleep(0.5)
    log = log_path.read_text()
    assert "/api/v1/me" in log and plaintext not in log and plaintext.partition(".")[2] not in log
