"""Bounces by email: VERP envelope senders on real sends through a real SMTP server on
127.0.0.1, and the DSNs (RFC 3464) and complaints (ARF, RFC 5965) that come back to them,
built with the email package as Postfix and feedback loops write them."""

import io
import os
import subprocess
import sys
from email.message import Message
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import formatdate, parseaddr
from pathlib import Path
from types import SimpleNamespace

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext

from apps.newsletter import verp
from apps.newsletter.bounces import parse_bounce
from apps.newsletter.delivery import send_issue
from apps.newsletter.models import BounceKind, Delivery, Subscription, SubscriptionStatus
from apps.newsletter.services import delivery_bounce_record
from tests.factories import SubscriptionFactory, UserFactory

from .conftest import SITE, render

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parents[2]
BOUNCES = "bounces@accrual.example"


@pytest.fixture
def bouncing(settings):
    settings.NEWSLETTER_BOUNCE_ADDRESS = BOUNCES
    return settings


@pytest.fixture
def sent(bouncing, smtp):
    """One issue sent to ann@example.com through the SMTP server: (subscription, delivery,
    the message as received, its envelope sender)."""
    sub = SubscriptionFactory(email="ann@example.com")
    send_issue(issue_key="test:1", render=render)
    [message], [envelope] = smtp.messages, smtp.envelopes
    return SimpleNamespace(
        sub=sub, row=Delivery.objects.get(subscription=sub), message=message, mail_from=envelope.mail_from
    )


# --- Bounces as mail servers write them ------------------------------------------------------


def _fields(**values) -> Message:
    block = Message()
    for name, value in values.items():
        block[name.replace("_", "-")] = value
    return block


def _returned_headers(original) -> MIMEText:
    """The bounced message's headers as a Postfix bounce returns them (text/rfc822-headers)."""
    headers = "".join(f"{name}: {value}\n" for name, value in original.items())
    part = MIMEText(headers, "rfc822-headers", "us-ascii")
    part["Content-Description"] = "Undelivered Message Headers"
    return part


def dsn(
    *,
    to: str,
    recipient: str = "ann@example.com",
    action: str = "failed",
    status: str = "5.1.1",
    diagnostic: str = "smtp; 550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown",
    original=None,
    sender: str | None = None,
) -> bytes:
    """A Postfix bounce (or, with action="delayed", its delay warning), delivered to ``to``."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["Return-Path"] = "<>"
    report["Delivered-To"] = to
    report["X-Original-To"] = to
    report["Date"] = formatdate()
    report["From"] = "MAILER-DAEMON@mail.accrual.example (Mail Delivery System)"
    report["Subject"] = "Delayed Mail (still being retried)" if action == "delayed" else "Undelivered Mail"
    report["To"] = to
    report["Auto-Submitted"] = "auto-replied"
    report["Message-Id"] = "<20261205230000.4ABC123@mail.accrual.example>"
    notice = MIMEText("This is the mail system at host mail.accrual.example.\n\n<ann@example.com>: host said: 550\n")
    notice["Content-Description"] = "Notification"
    report.attach(notice)
    status_part = MIMEMessage(
        _fields(
            Reporting_MTA="dns; mail.accrual.example",
            X_Postfix_Queue_ID="4ABC123",
            X_Postfix_Sender=f"rfc822; {sender or to}",
            Arrival_Date=formatdate(),
        ),
        "delivery-status",
    )
    status_part.set_payload(
        [
            status_part.get_payload(0),
            _fields(
                Final_Recipient=f"rfc822; {recipient}",
                Original_Recipient=f"rfc822;{recipient}",
                Action=action,
                Status=status,
                Remote_MTA="dns; mx.example.com",
                Diagnostic_Code=diagnostic,
            ),
        ]
    )
    status_part["Content-Description"] = "Delivery report"
    report.attach(status_part)
    if original is not None:
        report.attach(_returned_headers(original))
    return report.as_bytes()


def complaint(*, original_mail_from: str, to: str = "fbl@accrual.example", feedback_type: str = "abuse") -> bytes:
    """An ARF report from a mailbox provider's feedback loop (sent to the loop's address, not
    the VERP one: the token is in Original-Mail-From)."""
    report = MIMEMultipart("report", report_type="feedback-report")
    report["From"] = "feedback-loop@mailbox.example"
    report["To"] = to
    report["Subject"] = "Email abuse report"
    report["Date"] = formatdate()
    report.attach(MIMEText("This is an email abuse report for an email message received from IP 192.0.2.25.\n"))
    fields = _fields(
        Feedback_Type=feedback_type,
        User_Agent="SomeGenerator/1.0",
        Version="1",
        Original_Mail_From=f"<{original_mail_from}>",
        Original_Rcpt_To="<ann@example.com>",
        Arrival_Date=formatdate(),
        Reported_Domain="accrual.example",
    )
    report.attach(MIMEMessage(fields, "feedback-report"))
    original = MIMEText("Revenue moved.")
    original["From"] = "Accrual <hello@accrual.invalid>"
    original["Subject"] = "Accrual briefing"
    report.attach(MIMEMessage(original))
    return report.as_bytes()


def auto_reply(*, to: str) -> bytes:
    reply = MIMEText("I am out of the office until Monday.")
    reply["From"] = "ann@example.com"
    reply["To"] = to
    reply["Subject"] = "Out of office: Accrual briefing"
    reply["Auto-Submitted"] = "auto-replied"
    return reply.as_bytes()


def apply(raw: bytes):
    return delivery_bounce_record(bounce=parse_bounce(raw))


# --- VERP ------------------------------------------------------------------------------------


def test_the_envelope_sender_names_the_delivery_and_the_from_header_is_unchanged(sent):
    row, message, mail_from = sent.row, sent.message, sent.mail_from
    local, domain = mail_from.split("@")
    assert domain == "accrual.example" and local.startswith("bounces+") and len(local) <= 64
    assert "ann" not in local and "example.com" not in mail_from  # no address in clear
    assert verp.read_token(verp.token_in(mail_from)) == row.pk
    assert mail_from == verp.bounce_address_for(row.pk)
    assert message["From"] == django_settings.DEFAULT_FROM_EMAIL and message["To"] == "ann@example.com"
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"


def test_without_a_bounce_address_the_envelope_sender_is_the_from_address_and_bounces_are_ignored(smtp, settings):
    assert settings.NEWSLETTER_BOUNCE_ADDRESS == ""
    sub = SubscriptionFactory(email="ann@example.com")
    send_issue(issue_key="test:1", render=render)
    [message], [envelope] = smtp.messages, smtp.envelopes
    assert envelope.mail_from == parseaddr(settings.DEFAULT_FROM_EMAIL)[1]
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    with override_settings(NEWSLETTER_BOUNCE_ADDRESS=BOUNCES):
        address = verp.bounce_address_for(Delivery.objects.get().pk)
    outcome = apply(dsn(to=address))
    assert not outcome.changed and "NEWSLETTER_BOUNCE_ADDRESS is not set" in outcome.summary
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.CONFIRMED


def test_a_bounce_address_with_a_plus_or_without_a_domain_is_refused_at_start():
    for bad in ("bounces+x@accrual.example", "bounces"):
        env = {**os.environ, "DJANGO_ENV": "test", "NEWSLETTER_BOUNCE_ADDRESS": bad}
        child = subprocess.run(
            [sys.executable, "-c", "import config.settings"], cwd=ROOT, env=env, capture_output=True, timeout=60
        )
        assert child.returncode != 0 and b"NEWSLETTER_BOUNCE_ADDRESS must be" in child.stderr


# --- Parsing and applying ----------------------------------------------------------------------


def test_a_hard_bounce_suppresses_the_address_at_once_and_the_next_issue_skips_it(sent, smtp):
    sub, row, message, mail_from = sent.sub, sent.row, sent.message, sent.mail_from
    bounce = parse_bounce(dsn(to=mail_from, original=message))
    assert bounce.kind == BounceKind.PERMANENT and bounce.delivery_id == row.pk
    [recipient] = bounce.recipients
    assert (recipient.address, recipient.status, recipient.permanent) == ("ann@example.com", "5.1.1", True)

    outcome = delivery_bounce_record(bounce=bounce)
    assert outcome.changed and f"subscription {sub.pk} suppressed" in outcome.summary
    sub.refresh_from_db()
    row.refresh_from_db()
    assert sub.status == SubscriptionStatus.SUPPRESSED and sub.suppressed_at
    assert row.bounce == BounceKind.PERMANENT and row.bounced_at
    assert "5.1.1" in row.bounce_reason and "User unknown" in row.bounce_reason
    send_issue(issue_key="test:2", render=render)
    assert len(smtp.to("ann@example.com")) == 1


def test_a_soft_bounce_counts_like_a_refusal_once_per_message_and_suppresses_at_the_threshold(bouncing, smtp):
    bouncing.NEWSLETTER_SUPPRESS_AFTER = 3
    sub = SubscriptionFactory(email="ann@example.com")
    for n in (1, 2, 3):
        send_issue(issue_key=f"test:{n}", render=render)
    rows = list(Delivery.objects.filter(subscription=sub).order_by("pk"))
    delayed = dict(action="delayed", status="4.4.1", diagnostic="X-Postfix; connect to mx.example.com: timed out")

    bounce = parse_bounce(dsn(to=verp.bounce_address_for(rows[0].pk), **delayed))
    assert bounce.kind == BounceKind.TRANSIENT and not bounce.recipients[0].permanent
    assert "1 of 3" in delivery_bounce_record(bounce=bounce).summary
    # The same message's delay warning again, then its final expiry (failed, but 4.x.x): no more.
    assert not apply(dsn(to=verp.bounce_address_for(rows[0].pk), **delayed)).changed
    assert not apply(dsn(to=verp.bounce_address_for(rows[0].pk), action="failed", status="4.4.7")).changed
    sub.refresh_from_db()
    assert (sub.status, sub.failure_count) == (SubscriptionStatus.CONFIRMED, 1)

    apply(dsn(to=verp.bounce_address_for(rows[1].pk), action="failed", status="4.4.7"))
    sub.refresh_from_db()
    assert (sub.status, sub.failure_count) == (SubscriptionStatus.CONFIRMED, 2)
    assert "suppressed" in apply(dsn(to=verp.bounce_address_for(rows[2].pk), **delayed)).summary
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.SUPPRESSED and sub.suppressed_at
    assert {r.bounce for r in Delivery.objects.filter(subscription=sub)} == {BounceKind.TRANSIENT}


def test_a_hard_bounce_after_a_soft_one_for_the_same_message_still_suppresses(sent):
    sub, row, mail_from = sent.sub, sent.row, sent.mail_from
    apply(dsn(to=mail_from, action="delayed", status="4.2.2"))
    assert apply(dsn(to=mail_from)).changed
    sub.refresh_from_db()
    row.refresh_from_db()
    assert sub.status == SubscriptionStatus.SUPPRESSED and row.bounce == BounceKind.PERMANENT


def test_a_complaint_suppresses_the_address(sent):
    sub, row, mail_from = sent.sub, sent.row, sent.mail_from
    bounce = parse_bounce(complaint(original_mail_from=mail_from))
    assert bounce.kind == BounceKind.COMPLAINT and bounce.delivery_id == row.pk
    assert delivery_bounce_record(bounce=bounce).changed
    sub.refresh_from_db()
    row.refresh_from_db()
    assert sub.status == SubscriptionStatus.SUPPRESSED and row.bounce == BounceKind.COMPLAINT
    assert "abuse" in row.bounce_reason


def test_a_feedback_report_that_is_not_a_complaint_is_ignored(sent):
    mail_from = sent.mail_from
    bounce = parse_bounce(complaint(original_mail_from=mail_from, feedback_type="not-spam"))
    assert bounce.ignored and "not a complaint" in bounce.reason


def test_the_same_bounce_twice_changes_nothing_more(sent):
    sub, row, message, mail_from = sent.sub, sent.row, sent.message, sent.mail_from
    raw = dsn(to=mail_from, original=message)
    assert apply(raw).changed
    sub.refresh_from_db()
    row.refresh_from_db()
    before = (sub.status, sub.suppressed_at, sub.failure_count, sub.last_error, row.bounced_at, row.bounce_reason)
    second = apply(raw)
    assert not second.changed and "already recorded" in second.summary
    assert not apply(complaint(original_mail_from=mail_from)).changed
    sub.refresh_from_db()
    row.refresh_from_db()
    assert (sub.status, sub.suppressed_at, sub.failure_count, sub.last_error, row.bounced_at, row.bounce_reason) == (
        before
    )


def test_a_bounce_for_an_address_already_suppressed_is_recorded_and_changes_nothing_else(sent):
    sub, row, mail_from = sent.sub, sent.row, sent.mail_from
    Subscription.objects.filter(pk=sub.pk).update(status=SubscriptionStatus.SUPPRESSED, last_error="550 earlier")
    sub.refresh_from_db()
    outcome = apply(dsn(to=mail_from))
    assert "already suppressed" in outcome.summary
    after = Subscription.objects.get(pk=sub.pk)
    assert (after.status, after.suppressed_at, after.last_error) == (sub.status, sub.suppressed_at, "550 earlier")
    assert Delivery.objects.get(pk=row.pk).bounce == BounceKind.PERMANENT


def test_a_bounce_for_an_unsubscribed_address_leaves_it_unsubscribed(sent):
    sub, mail_from = sent.sub, sent.mail_from
    Subscription.objects.filter(pk=sub.pk).update(status=SubscriptionStatus.UNSUBSCRIBED)
    assert "already unsubscribed" in apply(dsn(to=mail_from)).summary
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.UNSUBSCRIBED


def test_an_auto_reply_to_the_bounce_address_is_ignored(sent):
    sub, row, mail_from = sent.sub, sent.row, sent.mail_from
    outcome = apply(auto_reply(to=mail_from))
    assert not outcome.changed and "automatic reply" in outcome.summary
    sub.refresh_from_db()
    assert (sub.status, sub.failure_count) == (SubscriptionStatus.CONFIRMED, 0)
    assert Delivery.objects.get(pk=row.pk).bounce == ""


def test_a_success_notice_is_not_a_failure(sent):
    mail_from = sent.mail_from
    bounce = parse_bounce(dsn(to=mail_from, action="delivered", status="2.0.0", diagnostic="smtp; 250 OK"))
    assert bounce.ignored and "no failed" in bounce.reason


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\xff\xfe\x00garbage\r\n\r\n\x00",
        b"Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n",
        b"Content-Type: multipart/report; report-type=delivery-status\r\nTo: =?utf-8?q?=ZZ?= <\r\n\r\nno parts",
        b"To: bounces+zzzz.aaaaaaaaaaaaaaaa@accrual.example\r\nSubject: hello\r\n\r\nhi",
    ],
)
def test_garbage_is_ignored_with_a_reason_never_an_exception(bouncing, raw):
    outcome = apply(raw)
    assert not outcome.changed and outcome.summary.startswith("ignored: ")


def test_a_forged_or_foreign_token_is_ignored(sent):
    sub, row, mail_from = sent.sub, sent.row, sent.mail_from
    local, domain = mail_from.split("@")
    tampered = local[:-1] + ("a" if local[-1] != "a" else "b")
    with override_settings(SECRET_KEY="another-site-another-key-" * 3):
        foreign = verp.bounce_address_for(row.pk)
    other_id = verp.token_for(row.pk + 1).split(".")[0] + "." + verp.token_for(row.pk).split(".")[1]
    for address in (f"{tampered}@{domain}", foreign, f"bounces+{other_id}@{domain}"):
        outcome = apply(dsn(to=address))
        assert not outcome.changed and "forged or invalid" in outcome.summary
    outcome = apply(dsn(to=BOUNCES))
    assert "no VERP token" in outcome.summary
    sub.refresh_from_db()
    assert (sub.status, sub.failure_count) == (SubscriptionStatus.CONFIRMED, 0)
    assert Delivery.objects.get(pk=row.pk).bounce == ""


def test_the_token_survives_a_mail_server_that_lowercases_or_uppercases_the_address(sent):
    row, mail_from = sent.row, sent.mail_from
    assert parse_bounce(dsn(to=mail_from.upper())).delivery_id == row.pk


def test_a_bounce_for_a_deleted_delivery_is_ignored(sent):
    sub, mail_from = sent.sub, sent.mail_from
    sub.delete()
    outcome = apply(dsn(to=mail_from))
    assert not outcome.changed and "no longer exists" in outcome.summary


# --- The command -----------------------------------------------------------------------------


def test_the_command_reads_one_message_from_stdin(sent, monkeypatch):
    sub, row, message, mail_from = sent.sub, sent.row, sent.message, sent.mail_from
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(dsn(to=mail_from, original=message))))
    out = io.StringIO()
    call_command("newsletter_bounce", stdout=out)
    assert out.getvalue() == f"stdin: hard bounce (5.x.x) for delivery {row.pk}: subscription {sub.pk} suppressed\n"
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.SUPPRESSED


def test_the_command_reads_files_and_directories_of_eml_files(sent, tmp_path):
    row, mail_from = sent.row, sent.mail_from
    (tmp_path / "1-hard.eml").write_bytes(dsn(to=mail_from))
    (tmp_path / "2-reply.eml").write_bytes(auto_reply(to=mail_from))
    (tmp_path / "notes.txt").write_bytes(dsn(to=mail_from))  # not .eml: not read
    again = tmp_path / "again.mail"
    again.write_bytes(dsn(to=mail_from))
    out = io.StringIO()
    call_command("newsletter_bounce", str(tmp_path), str(again), stdout=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 3
    assert lines[0].startswith(f"{tmp_path / '1-hard.eml'}: hard bounce") and lines[0].endswith("suppressed")
    assert lines[1].startswith(f"{tmp_path / '2-reply.eml'}: ignored: not a bounce")
    assert lines[2] == f"{again}: hard bounce (5.x.x) for delivery {row.pk}: already recorded, nothing changed"


def test_the_command_refuses_a_missing_path_before_reading_anything(sent, tmp_path):
    sub, mail_from = sent.sub, sent.mail_from
    (tmp_path / "hard.eml").write_bytes(dsn(to=mail_from))
    with pytest.raises(CommandError, match="no such file"):
        call_command("newsletter_bounce", str(tmp_path), str(tmp_path / "missing.eml"), stdout=io.StringIO())
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.CONFIRMED


def test_the_command_fails_with_tempfail_on_an_internal_error_so_the_mta_retries(sent, tmp_path, monkeypatch):
    from apps.newsletter.management.commands import newsletter_bounce

    mail_from = sent.mail_from
    (tmp_path / "hard.eml").write_bytes(dsn(to=mail_from))

    def database_down(**kwargs):
        raise DatabaseError("connection refused")

    monkeypatch.setattr(newsletter_bounce, "delivery_bounce_record", database_down)
    err = io.StringIO()
    with pytest.raises(CommandError) as raised:
        call_command("newsletter_bounce", str(tmp_path), stdout=io.StringIO(), stderr=err)
    assert raised.value.returncode == 75 and "connection refused" in err.getvalue()


@pytest.mark.django_db(transaction=True)
def test_an_mta_piping_bounces_to_the_command_gets_exit_status_0(bouncing, smtp):
    """As Postfix's pipe(8) runs it: a separate process, the message on stdin."""
    db = django_settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        pytest.skip("the child process needs the test database on PostgreSQL")
    sub = SubscriptionFactory(email="ann@example.com")
    send_issue(issue_key="test:1", render=render)
    mail_from = smtp.envelopes[0].mail_from
    url = f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    env = {**os.environ, "DJANGO_ENV": "test", "DATABASE_URL": url, "SITE_URL": SITE}
    env["NEWSLETTER_BOUNCE_ADDRESS"] = BOUNCES
    env.pop("REDIS_URL", None)
    command = [sys.executable, "manage.py", "newsletter_bounce"]
    for raw, expected in ((auto_reply(to=mail_from), b"stdin: ignored: "), (dsn(to=mail_from), b"suppressed")):
        child = subprocess.run(command, cwd=ROOT, env=env, input=raw, capture_output=True, timeout=60)
        assert child.returncode == 0, child.stderr.decode()[-2000:]
        assert expected in child.stdout
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.SUPPRESSED


# --- Admin -----------------------------------------------------------------------------------


def test_staff_see_bounce_reasons_and_filter_suppressed_subscriptions_in_flat_queries(client, bouncing, smtp):
    client.force_login(UserFactory(email="staff@example.com", is_staff=True, is_superuser=True))

    def delivery_list_queries():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get("/admin/newsletter/delivery/?bounce=permanent")
        assert response.status_code == 200
        return len(ctx.captured_queries), response.content.decode()

    delivery_list_queries()  # the first request of a session loads more (its session, the content types)
    SubscriptionFactory(email="kept@example.com")
    for n in range(1, 4):
        SubscriptionFactory(email=f"gone{n}@example.com")
        send_issue(issue_key=f"test:{n}", render=render)
        for row in Delivery.objects.filter(subscription__email=f"gone{n}@example.com"):
            diagnostic = f"smtp; 550 5.1.1 <gone{n}@example.com>: User unknown"
            apply(dsn(to=verp.bounce_address_for(row.pk), recipient=f"gone{n}@example.com", diagnostic=diagnostic))
        if n == 1:
            first_count, _ = delivery_list_queries()
    last_count, page = delivery_list_queries()
    assert first_count == last_count
    assert "gone3@example.com&gt;: User unknown" in page and "Hard bounce (5.x.x)" in page
    assert "kept@example.com" not in page

    response = client.get("/admin/newsletter/subscription/?status=suppressed")
    page = response.content.decode()
    assert response.status_code == 200 and "gone1@example.com" in page and "kept@example.com" not in page
