"""Bounces that come back by email: reads one raw message and says which delivery it is about
(by the VERP token of the address it was sent to, see verp.py) and what it reports.

* A delivery status notification (RFC 3464: ``multipart/report; report-type=delivery-status``):
  per recipient, ``Action: failed`` with ``Status: 5.x.x`` is permanent; ``Action: delayed``
  or a 4.x.x status is transient; delivered, relayed and expanded are not failures.
* A complaint (ARF, RFC 5965: ``report-type=feedback-report``, Feedback-Type abuse, fraud,
  virus or other) counts as permanent.
* Anything else (an auto-reply, an unreadable message, a missing or forged token) is ignored
  with its reason. ``parse_bounce`` never raises: the MTA piping mail to us must not bounce it.

Reads only; ``services.delivery_bounce_record`` applies the result.
"""

from __future__ import annotations

import email
import email.policy
import re
from dataclasses import dataclass, field
from email.message import Message

from django.conf import settings

from . import verp
from .models import BounceKind

REASON_MAX = 300
STATUS = re.compile(r"^\s*([245])\.\d{1,3}\.\d{1,3}\b")
NOT_FAILURES = {"delivered", "relayed", "expanded"}
COMPLAINT_TYPES = {"abuse", "fraud", "virus", "other"}
# Where the bounce address (and so the token) shows, most trustworthy first: the envelope
# recipient as the local MTA records it, the bounce's To, then the report's own fields.
ENVELOPE_HEADERS = ("X-Original-To", "Delivered-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
REPORT_FIELDS = ("Original-Envelope-Id", "X-Postfix-Sender", "Original-Mail-From")
RETURNED_HEADERS = ("Return-Path",)


@dataclass(frozen=True)
class FailedRecipient:
    address: str
    action: str  # "failed" or "delayed" (inferred from the status when missing)
    status: str  # e.g. "5.1.1"; "" when the report gave none
    diagnostic: str
    permanent: bool


@dataclass(frozen=True)
class Bounce:
    """What one message said. ``kind`` is None when it is ignored; ``reason`` says why, or
    sums up the failure (kept on the delivery)."""

    kind: BounceKind | None
    reason: str
    delivery_id: int | None = None
    recipients: tuple[FailedRecipient, ...] = field(default=())

    @property
    def ignored(self) -> bool:
        return self.kind is None


def _ignored(reason: str, delivery_id: int | None = None) -> Bounce:
    return Bounce(kind=None, reason=reason, delivery_id=delivery_id)


def parse_bounce(raw: bytes) -> Bounce:
    try:
        return _parse(email.message_from_bytes(raw or b"", policy=email.policy.compat32))
    except Exception as exc:  # malformed mail can trip the parser anywhere: it is ignored, not fatal
        return _ignored(f"unreadable message ({type(exc).__name__})")


def _text(value) -> str:
    return " ".join(str(value or "").split())


def _fields(block: Message, name: str) -> list[str]:
    return [_text(v) for v in block.get_all(name) or []]


def _field(block: Message, name: str) -> str:
    values = _fields(block, name)
    return values[0] if values else ""


def _typed_value(value: str) -> str:
    """``rfc822; ann@example.com`` → ``ann@example.com`` (RFC 3464's address-type; value)."""
    return value.split(";", 1)[1].strip() if ";" in value else value.strip()


def _parts(message: Message, content_type: str) -> list[Message]:
    return [part for part in message.walk() if part.get_content_type() == content_type]


def _parse(message: Message) -> Bounce:
    if not settings.NEWSLETTER_BOUNCE_ADDRESS:
        return _ignored("NEWSLETTER_BOUNCE_ADDRESS is not set, so no bounce can be matched to a delivery")
    content_type = message.get_content_type()
    report_type = _text(message.get_param("report-type", "")).lower() if content_type == "multipart/report" else ""
    if report_type not in {"delivery-status", "feedback-report"}:
        return _ignored(f"not a bounce or complaint report ({_what_it_is(message, content_type)})")

    report_parts = _parts(message, f"message/{report_type}")
    if not report_parts:
        return _ignored(f"a {report_type} report without its message/{report_type} part")
    blocks = [b for b in report_parts[0].get_payload() if isinstance(b, Message)]
    if not blocks:
        return _ignored(f"an empty message/{report_type} part")

    delivery_id, token_problem = _delivery_id(message, blocks)
    if delivery_id is None:
        return _ignored(token_problem)
    if report_type == "feedback-report":
        return _complaint(blocks[0], delivery_id)
    return _delivery_status(blocks[1:], delivery_id)


def _what_it_is(message: Message, content_type: str) -> str:
    auto = _field(message, "Auto-Submitted").lower()
    if auto and auto != "no":
        return f"an automatic reply, Auto-Submitted: {auto}"
    if (
        message.get("X-Autoreply")
        or message.get("X-Autorespond")
        or _field(message, "Precedence").lower()
        in {
            "auto_reply",
            "bulk",
            "junk",
        }
    ):
        return "an automatic reply"
    if not message.keys():
        return "no headers: not an email"
    return content_type


def _addresses(message: Message, blocks: list[Message]) -> list[str]:
    found = [v for name in ENVELOPE_HEADERS for v in _fields(message, name)]
    found += [v for block in blocks for name in REPORT_FIELDS for v in _fields(block, name)]
    for returned in _parts(message, "message/rfc822") + _parts(message, "text/rfc822-headers"):
        headers = returned.get_payload(0) if returned.is_multipart() else _headers_of(returned)
        if isinstance(headers, Message):
            found += [v for name in RETURNED_HEADERS for v in _fields(headers, name)]
    return found


def _headers_of(part: Message) -> Message | None:
    payload = part.get_payload(decode=True) or b""
    return email.message_from_bytes(payload, policy=email.policy.compat32)


def _delivery_id(message: Message, blocks: list[Message]) -> tuple[int | None, str]:
    tokens = [t for t in (verp.token_in(a) for a in _addresses(message, blocks)) if t]
    for token in tokens:
        delivery_id = verp.read_token(token)
        if delivery_id is not None:
            return delivery_id, ""
    if tokens:
        return None, "the bounce address's token is forged or invalid"
    return None, "not addressed to a bounce address (no VERP token found)"


def _recipient(block: Message) -> FailedRecipient | None:
    status_match = STATUS.match(_field(block, "Status"))
    status_class = status_match.group(1) if status_match else ""
    action = _field(block, "Action").lower()
    if not action:
        action = {"5": "failed", "4": "delayed"}.get(status_class, "")
    if action in NOT_FAILURES or action not in {"failed", "delayed"} or status_class == "2":
        return None
    address = _typed_value(_field(block, "Final-Recipient") or _field(block, "Original-Recipient"))
    return FailedRecipient(
        address=address,
        action=action,
        status=_field(block, "Status").split(" ")[0] if status_match else "",
        diagnostic=_typed_value(_field(block, "Diagnostic-Code")),
        # A failure with no 5.x.x status (e.g. a message expired after 4.x.x) is not proof
        # the address is dead: it counts like a refusal instead.
        permanent=action == "failed" and status_class == "5",
    )


def _delivery_status(recipient_blocks: list[Message], delivery_id: int) -> Bounce:
    recipients = tuple(r for r in (_recipient(b) for b in recipient_blocks) if r is not None)
    if not recipients:
        return _ignored("the report has no failed or delayed recipient", delivery_id)
    permanent = [r for r in recipients if r.permanent]
    worst = (permanent or list(recipients))[0]
    summary = f"{worst.action} {worst.status or '(no status)'} {worst.address}: {worst.diagnostic}".strip(" :")
    return Bounce(
        kind=BounceKind.PERMANENT if permanent else BounceKind.TRANSIENT,
        reason=summary[:REASON_MAX],
        delivery_id=delivery_id,
        recipients=recipients,
    )


def _complaint(report: Message, delivery_id: int) -> Bounce:
    feedback_type = _field(report, "Feedback-Type").lower()
    if feedback_type not in COMPLAINT_TYPES:
        return _ignored(f"a feedback report that is not a complaint (Feedback-Type: {feedback_type or 'none'})")
    who = _field(report, "Original-Rcpt-To") or _field(report, "Removal-Recipient")
    reporter = _field(report, "User-Agent") or _field(report, "Reported-Domain")
    reason = f"complaint ({feedback_type}) {who} via {reporter or 'a feedback loop'}"
    recipient = FailedRecipient(address=who, action="complaint", status="", diagnostic=feedback_type, permanent=True)
    return Bounce(
        kind=BounceKind.COMPLAINT, reason=reason[:REASON_MAX], delivery_id=delivery_id, recipients=(recipient,)
    )
