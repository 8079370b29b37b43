"""VERP: each newsletter message's envelope sender names its Delivery, so a bounce that comes
back by email says which message (and so which subscriber) failed.

NEWSLETTER_BOUNCE_ADDRESS ``bounces@example.com`` gives ``bounces+<token>@example.com``; the
token is the delivery id (base 36) and a salted HMAC of it from Django's signing, in lower
case base 32 so that a mail server folding the local part to lower case does not break it,
and short (about 20 characters) so the local part stays under SMTP's 64.
"""

from __future__ import annotations

import base64
import re

from django.conf import settings
from django.core import signing
from django.utils.crypto import salted_hmac

SALT = "accrual.newsletter.bounce"
SIGNATURE_CHARS = 16  # 80 bits: a forger gets one guess per email sent to us
TOKEN = re.compile(rf"^[0-9a-z]{{1,13}}\.[a-z2-7]{{{SIGNATURE_CHARS}}}$")


class _Signer(signing.Signer):
    """Django's Signer with a case-insensitive, truncated signature (key rotation through
    SECRET_KEY_FALLBACKS works as for any Signer)."""

    def signature(self, value, key=None):
        mac = salted_hmac(self.salt + "signer", value, key or self.key, algorithm=self.algorithm).digest()
        return base64.b32encode(mac).decode()[:SIGNATURE_CHARS].lower()


def _signer() -> signing.Signer:
    return _Signer(salt=SALT, sep=".")


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out


def token_for(delivery_id: int) -> str:
    return _signer().sign(_base36(delivery_id))


def read_token(token: str) -> int | None:
    """The delivery id a token signs, or None when it is malformed or forged."""
    token = (token or "").strip().lower()
    if not TOKEN.match(token):
        return None
    try:
        return int(_signer().unsign(token), 36)
    except signing.BadSignature:
        return None


def bounce_address_for(delivery_id: int) -> str:
    """The envelope sender of a delivery's message; "" when NEWSLETTER_BOUNCE_ADDRESS is unset."""
    if not settings.NEWSLETTER_BOUNCE_ADDRESS:
        return ""
    local, domain = settings.NEWSLETTER_BOUNCE_ADDRESS.rsplit("@", 1)
    return f"{local}+{token_for(delivery_id)}@{domain}"


def token_in(address: str) -> str | None:
    """The token part of ``bounces+<token>@…`` in an address (any domain: aliases may rewrite
    it; the signature is what is trusted), or None when it is not a bounce address."""
    if not settings.NEWSLETTER_BOUNCE_ADDRESS:
        return None
    local = settings.NEWSLETTER_BOUNCE_ADDRESS.rsplit("@", 1)[0].lower()
    match = re.search(rf"(?<![\w.+-]){re.escape(local)}\+([0-9a-z]+\.[a-z2-7]+)@", address or "", re.IGNORECASE)
    return match.group(1) if match else None
