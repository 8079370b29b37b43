"""A real SMTP server on 127.0.0.1 (aiosmtpd's Controller on a free port) that keeps what it
receives, for tests of email as the world sees it.

``with SMTPServer() as smtp:`` — ``smtp.port``, ``smtp.messages`` (``email.message.Message``
objects with their envelope in ``smtp.envelopes``), ``smtp.reject.add(address)`` (RCPT TO is
refused with 550), ``smtp.settings(settings)`` points Django's SMTP backend at it.
``keep=False`` counts messages without keeping them (the benchmark).
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Envelope:
    mail_from: str
    rcpt_tos: list[str]


@dataclass
class _Handler:
    keep: bool = True
    reject: set[str] = field(default_factory=set)
    messages: list = field(default_factory=list)
    envelopes: list[Envelope] = field(default_factory=list)
    count: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower() in self.reject:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.count += 1
            if self.keep:
                self.messages.append(email.message_from_bytes(envelope.content, policy=email.policy.default))
                self.envelopes.append(Envelope(envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted"


class SMTPServer:
    def __init__(self, *, keep: bool = True) -> None:
        self.handler = _Handler(keep=keep)
        self.port = free_port()
        self.controller: Controller | None = None

    @property
    def messages(self) -> list:
        return self.handler.messages

    @property
    def envelopes(self) -> list[Envelope]:
        return self.handler.envelopes

    @property
    def count(self) -> int:
        return self.handler.count

    @property
    def reject(self) -> set[str]:
        return self.handler.reject

    def to(self, address: str) -> list:
        return [m for m, e in zip(self.messages, self.envelopes, strict=True) if address in e.rcpt_tos]

    def environ(self) -> dict[str, str]:
        """The variables that point a process's settings at this server."""
        return {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": str(self.port), "EMAIL_USE_TLS": "false"}

    def settings(self, settings) -> None:
        """Points pytest-django's ``settings`` fixture at this server."""
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST = "127.0.0.1"
        settings.EMAIL_PORT = self.port
        settings.EMAIL_USE_TLS = False
        settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = ""
        settings.EMAIL_HOST_PASSWORD = ""

    def start(self) -> None:
        """Starts (or starts again, on the same port: a controller runs once)."""
        self.controller = Controller(self.handler, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> SMTPServer:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
