"""Send, or resume, a day's briefing by hand (after an outage, or when beat was down), or send
test copies of it to given addresses.

A send goes through the newsletter's ``send_issue`` as beat's does (issue ``briefing:<day>``),
so each confirmed subscriber gets it once however often this runs; it runs here, inline, so
its progress and exit status are this command's (``--queue`` hands it to the Celery worker).
Exit status: 0 when everyone left got it; 1 when refused (nothing sent) or when the send did
not finish (failures, another run holding the issue, the mail server lost): run it again.
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email

from apps.briefings import emails, services, tasks
from apps.briefings.models import Briefing
from apps.newsletter.selectors import issue_recipients_left

PROGRESS_EVERY = 100


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}") from exc


def _address(value: str) -> str:
    address = value.strip()
    try:
        validate_email(address)
    except ValidationError as exc:
        raise CommandError(f"Not an email address: {value!r}. Nothing was sent.") from exc
    return address


class Command(BaseCommand):
    help = (
        "Send (or resume) a day's briefing to every confirmed subscriber who has not had it, "
        "exactly once each, and mark it sent; or, with --test-to, send test copies to given addresses only."
    )

    def add_arguments(self, parser):
        parser.add_argument("day", help="The briefing's day, YYYY-MM-DD (UTC); not a future day")
        parser.add_argument(
            "--without-note",
            action="store_true",
            help="Send a draft still waiting for the editor's note as it is (as the note deadline would)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print how many would receive it; send and change nothing"
        )
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Queue the send on the Celery worker (briefings.send) instead of sending here",
        )
        parser.add_argument(
            "--test-to",
            action="append",
            default=[],
            metavar="EMAIL",
            help="Send one [TEST] copy to this address only (repeatable); a draft too; records no delivery",
        )

    def handle(self, *args, day, without_note, dry_run, queue, test_to, **options):
        date = _date(day)
        if test_to:
            self._test(date, [_address(a) for a in test_to], dry_run=dry_run)
            return
        try:
            briefing = services.briefing_check_sendable(day=date, without_note=without_note)
        except services.BriefingNotSendable as exc:
            raise CommandError(str(exc)) from exc
        issue_key = f"briefing:{date.isoformat()}"
        left = issue_recipients_left(issue_key)
        state = Briefing.Status(briefing.status).label.split(" (")[0].lower()
        if dry_run:
            self.stdout.write(f"Dry run: {issue_key} ({state}) would go to {left} subscriber(s). Nothing was sent.")
            return
        if services.briefing_make_ready(briefing=briefing):
            self.stdout.write(f"{issue_key}: the draft is now ready (published).")
        if queue:
            tasks.send.delay(date.isoformat())
            self.stdout.write(f"{issue_key}: queued briefings.send for {left} subscriber(s); the worker sends it.")
            return
        self.stdout.write(f"{issue_key}: sending to {left} subscriber(s)…")
        rendered = 0

        def progress(subscription) -> None:
            nonlocal rendered
            rendered += 1
            if rendered % PROGRESS_EVERY == 0:
                self.stdout.write(f"  {rendered} of {left}…")

        result = services.briefing_send(day=date.isoformat(), on_render=progress)
        if result is None:  # made ready above, so only a concurrent change gets here
            raise CommandError(f"{issue_key}: the briefing is no longer ready or sent. Nothing was sent.")
        summary = f"{issue_key}: sent {result.sent}, failed {result.failed}, skipped {result.skipped}"
        if result.unknown:  # a dead run's in-flight messages: never resent, reviewed in the admin
            summary += f", {result.unknown} left unknown by a stopped run"
        if result.busy:
            raise CommandError(f"{issue_key}: another run is sending it right now; nothing was sent here.")
        if result.stopped:
            raise CommandError(f"{summary}. Stopped: {result.stopped} Run this again to send the rest.")
        if result.failed:
            raise CommandError(f"{summary}. Marked sent; run this again to retry the failures once due.")
        self.stdout.write(self.style.SUCCESS(f"{summary}. Marked sent."))

    def _test(self, date: dt.date, addresses: list[str], *, dry_run: bool) -> None:
        briefing = Briefing.objects.filter(date=date).first()
        if briefing is None:
            raise CommandError(f"There is no briefing for {date}: nothing was sent.")
        if dry_run:
            self.stdout.write(f"Dry run: a test copy would go to {', '.join(addresses)}. Nothing was sent.")
            return
        sent = emails.send_test_copies(briefing, addresses)
        self.stdout.write(
            self.style.SUCCESS(
                f"Sent {sent} test copy(ies) of the {briefing.status} briefing for {date} "
                f"to {', '.join(addresses)}; no delivery recorded."
            )
        )
