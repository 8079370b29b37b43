"""Run as a child process by test_killed_worker: sends an issue and SIGKILLs itself while
rendering the message number given in argv, as the kernel would kill a worker."""

import os
import signal
import sys

import django

django.setup()

from apps.newsletter.delivery import send_issue  # noqa: E402
from tests.newsletter.conftest import render  # noqa: E402

die_at = int(sys.argv[1])
calls = 0


def render_then_die(subscription):
    global calls
    calls += 1
    if calls == die_at:
        os.kill(os.getpid(), signal.SIGKILL)
    return render(subscription)


send_issue(issue_key="test:killed", render=render_then_die, batch_size=5)
