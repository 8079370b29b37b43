"""A sender process SIGKILLed half-way through an issue, then the issue resumed: every
subscriber has exactly one copy at the SMTP server."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from apps.newsletter.delivery import send_issue
from apps.newsletter.models import Delivery, DeliveryStatus
from tests.factories import SubscriptionFactory

from .conftest import SITE, render

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db(transaction=True)
def test_a_sender_killed_half_way_resumes_and_everyone_has_exactly_one_copy(smtp):
    subs = SubscriptionFactory.create_batch(12)
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        pytest.skip("the child process needs the test database on PostgreSQL")
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": url, "SITE_URL": SITE, **smtp.environ()}
    env.pop("REDIS_URL", None)
    command = [sys.executable, "-m", "tests.newsletter.killed_sender", "8"]
    child = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, timeout=60)
    assert child.returncode == -signal.SIGKILL, child.stderr.decode()[-2000:]
    assert smtp.count == 7

    result = send_issue(issue_key="test:killed", render=render, batch_size=5)
    assert (result.requeued, result.unknown, result.sent) == (3, 0, 5)
    assert {s.email: len(smtp.to(s.email)) for s in subs} == {s.email: 1 for s in subs}
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
