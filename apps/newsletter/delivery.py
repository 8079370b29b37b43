"""The delivery engine: one email per (issue, confirmed subscriber), sent in batches over one
SMTP connection per batch, resumable and never sending a copy twice.

* ``send_issue`` adds a queued Delivery for every confirmed subscription that has none for the
  issue (one INSERT … SELECT, a no-op when repeated), then claims batches
  (``select_for_update(skip_locked=True)``, status ``claimed``).
* Per message, a conditional update moves the row to ``sending`` — only if it is still this
  run's and its subscription is still confirmed (else ``skipped``) — and commits before the
  SMTP call; ``sent`` with its Message-ID is written right after (without waiting for the
  disk: see ``_commit_without_waiting_for_disk``). Two or three queries a message, one flush.
* One run per issue at a time (a single-flight lock, kept alive while sending). A run that
  takes the lock recovers a dead run's rows: ``claimed`` ones were never attempted and go back
  to the queue; a ``sending`` one may have reached the server, so it becomes ``unknown`` for
  review and is not sent again (at most once).
* SMTP errors mark the delivery ``failed`` with its error and retry it with exponential
  backoff up to NEWSLETTER_MAX_ATTEMPTS; a recipient the server refuses counts against the
  address, and at NEWSLETTER_SUPPRESS_AFTER consecutive failures it is suppressed. A lost
  connection is reopened once; if that fails, the run puts its unsent rows back and stops.
* With NEWSLETTER_BOUNCE_ADDRESS set, each message's envelope sender names its delivery (VERP,
  verp.py), so bounces that arrive later by email are matched to it (bounces.py).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import smtplib
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import get_connection
from django.db import connection as db_connection
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.module_loading import import_string

from apps.tokens.locks import single_flight_lock

from .emails import message_id_for, newsletter_message
from .models import Delivery, DeliveryStatus, Subscription, SubscriptionStatus
from .services import subscription_record_failure
from .verp import bounce_address_for

logger = logging.getLogger(__name__)

Render = Callable[[Subscription], tuple[str, str, str]]

ISSUE_KEY = re.compile(r"^[a-z0-9_-]+:[A-Za-z0-9_.:-]{1,80}$")
BACKOFF_CAP = dt.timedelta(hours=6)
RETRY_WINDOW = dt.timedelta(days=1)  # an issue older than this is not resumed: its news is stale
LOCK_EXTEND_EVERY = 10.0  # seconds
ERROR_MAX = 300
# Refusals that are about the address, so they count towards suppressing it.
ADDRESS_ERRORS = (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError)


@dataclass
class SendResult:
    issue_key: str
    queued: int = 0  # deliveries added by this run
    sent: int = 0
    failed: int = 0
    skipped: int = 0  # unsubscribed or suppressed by send time
    suppressed: int = 0  # addresses suppressed by this run
    requeued: int = 0  # a dead run's claimed rows put back
    unknown: int = 0  # a dead run's in-flight rows, left for review
    busy: bool = False  # another run holds the issue
    stopped: str = ""  # why the run stopped early, if it did


class IssueKeyError(ValueError):
    pass


def check_issue_key(issue_key: str) -> str:
    if not ISSUE_KEY.match(issue_key or ""):
        raise IssueKeyError(f"An issue key is '<kind>:<id>' in letters, digits and -_.: — got {issue_key!r}")
    return issue_key


def backoff(attempts: int) -> dt.timedelta:
    """The wait after ``attempts`` failed attempts (1-based)."""
    return min(dt.timedelta(seconds=settings.NEWSLETTER_RETRY_BACKOFF) * 2 ** (attempts - 1), BACKOFF_CAP)


def lock_ttl() -> float:
    return max(120.0, 3.0 * settings.NEWSLETTER_SMTP_TIMEOUT)


def send_issue(*, issue_key: str, render: Render, batch_size: int = 100, now: dt.datetime | None = None) -> SendResult:
    """Sends ``issue_key`` to every confirmed subscriber who has not had it; ``render(subscription)``
    gives (subject, html, text). Safe to call again: it only sends what is left."""
    return _run(issue_key=check_issue_key(issue_key), render=render, batch_size=batch_size, now=now, enqueue=True)


def resume_issue(
    *, issue_key: str, render: Render, batch_size: int = 100, now: dt.datetime | None = None
) -> SendResult:
    """Sends what is left of an issue already started (and retries its due failures), adding nobody."""
    return _run(issue_key=check_issue_key(issue_key), render=render, batch_size=batch_size, now=now, enqueue=False)


def renderer_for(issue_key: str) -> Render | None:
    """The render function of ``issue_key`` from NEWSLETTER_RENDERERS, by its kind (before ':')."""
    kind = issue_key.split(":", 1)[0]
    path = settings.NEWSLETTER_RENDERERS.get(kind)
    if not path:
        return None
    return import_string(path)(issue_key)


def issues_to_resume(*, now: dt.datetime | None = None) -> list[str]:
    """Recent issues with deliveries left to send, left by a dead run, or failed and due."""
    now = now or timezone.now()
    unfinished = Q(status__in=[DeliveryStatus.QUEUED, DeliveryStatus.CLAIMED, DeliveryStatus.SENDING]) | Q(
        status=DeliveryStatus.FAILED, next_attempt_at__lte=now
    )
    rows = Delivery.objects.filter(unfinished, created_at__gte=now - RETRY_WINDOW)
    return sorted(set(rows.values_list("issue_key", flat=True).distinct()))


def retry_failed_deliveries(*, now: dt.datetime | None = None) -> list[SendResult]:
    results = []
    for issue_key in issues_to_resume(now=now):
        render = renderer_for(issue_key)
        if render is None:
            logger.error("newsletter issue %s has no renderer (NEWSLETTER_RENDERERS); not resumed", issue_key)
            continue
        results.append(resume_issue(issue_key=issue_key, render=render, now=now))
    return results


# --- The run ---------------------------------------------------------------------------------


def _run(*, issue_key: str, render: Render, batch_size: int, now: dt.datetime | None, enqueue: bool) -> SendResult:
    now = now or timezone.now()
    result = SendResult(issue_key=issue_key)
    with single_flight_lock(f"newsletter-send:{issue_key}", lock_ttl()) as lock:
        if not lock:
            result.busy = True
            return result
        result.requeued, result.unknown = _recover(issue_key)
        if enqueue:
            result.queued = _enqueue(issue_key, now)
        run = _Run(issue_key=issue_key, claim=uuid.uuid4().hex, render=render, result=result, lock=lock)
        while not result.stopped:
            batch = run.claim_batch(batch_size, now)
            if not batch:
                break
            run.send_batch(batch)
    logger.info("newsletter %s: %s", issue_key, result)
    return result


def _recover(issue_key: str) -> tuple[int, int]:
    """With the issue's lock held, no other run is live: its rows are a dead run's."""
    rows = Delivery.objects.filter(issue_key=issue_key)
    requeued = rows.filter(status=DeliveryStatus.CLAIMED).update(status=DeliveryStatus.QUEUED, claim="")
    unknown = rows.filter(status=DeliveryStatus.SENDING).update(
        status=DeliveryStatus.UNKNOWN, error="A sender stopped during this message; it may have been delivered."
    )
    if requeued or unknown:
        logger.warning("newsletter %s: %s requeued, %s left unknown by a stopped run", issue_key, requeued, unknown)
    return requeued, unknown


def _enqueue(issue_key: str, now: dt.datetime) -> int:
    quote = db_connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(Delivery._meta.db_table)} "
        "(issue_key, subscription_id, status, attempts, claim, message_id, error, bounce, bounce_reason, created_at) "
        f"SELECT %s, s.id, %s, 0, '', '', '', '', '', %s FROM {quote(Subscription._meta.db_table)} s "
        "WHERE s.status = %s "
        "ON CONFLICT (issue_key, subscription_id) DO NOTHING"
    )
    with db_connection.cursor() as cursor:
        cursor.execute(sql, [issue_key, DeliveryStatus.QUEUED, now, SubscriptionStatus.CONFIRMED])
        return max(cursor.rowcount, 0)


def _commit_without_waiting_for_disk() -> None:
    """For the "sent" mark only: lost in a database crash, it leaves the row "sending", which
    recovery marks unknown and never resends; and the next message's "sending" commit, which
    does wait, flushes it. Halves the disk flushes a message costs on PostgreSQL."""
    if db_connection.vendor == "postgresql":
        with db_connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:ERROR_MAX]


@dataclass
class _Run:
    issue_key: str
    claim: str
    render: Render
    result: SendResult
    lock: object
    extended_at: float = 0.0

    def claim_batch(self, size: int, now: dt.datetime) -> list[Delivery]:
        due = Q(status=DeliveryStatus.QUEUED) | Q(status=DeliveryStatus.FAILED, next_attempt_at__lte=now)
        with transaction.atomic():
            ids = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(due, issue_key=self.issue_key)
                .exclude(claim=self.claim)  # a row this run already tried waits for a later run
                .order_by("pk")
                .values_list("pk", flat=True)[:size]
            )
            if not ids:
                return []
            Delivery.objects.filter(pk__in=ids).update(
                status=DeliveryStatus.CLAIMED, claim=self.claim, claimed_at=timezone.now()
            )
        return list(
            Delivery.objects.filter(pk__in=ids, claim=self.claim, status=DeliveryStatus.CLAIMED)
            .select_related("subscription")
            .order_by("pk")
        )

    def release(self) -> None:
        """Rows this run claimed and never attempted go back to the queue."""
        Delivery.objects.filter(claim=self.claim, status=DeliveryStatus.CLAIMED).update(
            status=DeliveryStatus.QUEUED, claim=""
        )

    def keep_lock(self) -> bool:
        if time.monotonic() - self.extended_at < LOCK_EXTEND_EVERY:
            return True
        self.extended_at = time.monotonic()
        return self.lock.extend()

    def send_batch(self, batch: list[Delivery]) -> None:
        smtp = get_connection(timeout=settings.NEWSLETTER_SMTP_TIMEOUT)
        try:
            smtp.open()
        except Exception as exc:  # any failure to connect: nothing was sent
            self.release()
            self.result.stopped = f"Could not connect to the mail server: {_error_text(exc)}"
            return
        try:
            for delivery in batch:
                if not self.keep_lock():
                    self.release()
                    self.result.stopped = "Lost the issue's lock (the run stalled); another run may continue."
                    return
                if not self.send_one(delivery, smtp):
                    return
        finally:
            smtp.close()

    def send_one(self, delivery: Delivery, smtp) -> bool:
        """Sends one message; False when the run must stop."""
        subscription = delivery.subscription
        try:
            subject, html, text = self.render(subscription)
        except Exception:
            self.release()
            raise
        message_id = message_id_for(issue_key=self.issue_key, delivery_id=delivery.pk)
        message = newsletter_message(
            subscription=subscription,
            subject=subject,
            html=html,
            text=text,
            message_id=message_id,
            bounce_address=bounce_address_for(delivery.pk),
        )
        mine = Delivery.objects.filter(pk=delivery.pk, claim=self.claim, status=DeliveryStatus.CLAIMED)
        # The subscription's status is read here, in the same statement that commits "sending".
        if not mine.filter(subscription__status=SubscriptionStatus.CONFIRMED).update(
            status=DeliveryStatus.SENDING, started_at=timezone.now()
        ):
            if mine.update(status=DeliveryStatus.SKIPPED, claim="", error="Not subscribed at send time."):
                self.result.skipped += 1
            return True
        try:
            smtp.send_messages([message])
        except ADDRESS_ERRORS as exc:
            self.fail(delivery, exc, counts_against_address=True)
        except smtplib.SMTPResponseException as exc:
            self.fail(delivery, exc, counts_against_address=False)
        except OSError as exc:  # the connection broke (smtplib's disconnects are OSErrors too)
            self.fail(delivery, exc, counts_against_address=False)
            smtp.close()
            try:
                smtp.open()
            except Exception as reopen_exc:
                self.release()
                self.result.stopped = f"Lost the mail server: {_error_text(reopen_exc)}"
                return False
        else:
            with transaction.atomic():
                _commit_without_waiting_for_disk()
                Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
                    status=DeliveryStatus.SENT,
                    sent_at=timezone.now(),
                    message_id=message_id,
                    attempts=delivery.attempts + 1,
                    next_attempt_at=None,
                    error="",
                )
            if subscription.failure_count:
                Subscription.objects.filter(pk=subscription.pk).update(failure_count=0, last_error="")
            self.result.sent += 1
        return True

    def fail(self, delivery: Delivery, exc: BaseException, *, counts_against_address: bool) -> None:
        error = _error_text(exc)
        attempts = delivery.attempts + 1
        now = timezone.now()
        retry_at = None if attempts >= settings.NEWSLETTER_MAX_ATTEMPTS else now + backoff(attempts)
        suppressed = False
        if counts_against_address:
            suppressed = subscription_record_failure(subscription_id=delivery.subscription_id, error=error, now=now)
        Delivery.objects.filter(pk=delivery.pk, status=DeliveryStatus.SENDING).update(
            status=DeliveryStatus.FAILED,
            attempts=attempts,
            next_attempt_at=None if suppressed else retry_at,
            error=error,
        )
        self.result.failed += 1
        self.result.suppressed += suppressed
        logger.info("newsletter %s to subscription %s failed: %s", self.issue_key, delivery.subscription_id, error)
