"""Reads bounces (DSNs and complaints) and applies them: for an MTA to pipe a bounce mailbox
into (one message on stdin), or for an operator to replay .eml files or a directory of them.

Exit status: 0 when every message was applied or ignored (an ignored message is not an error,
so the MTA does not bounce the bounce); 75 (EX_TEMPFAIL) on an internal error such as the
database being down, which Postfix and Exim take as "try this message again later".
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from apps.newsletter.bounces import parse_bounce
from apps.newsletter.services import delivery_bounce_record

logger = logging.getLogger(__name__)

EX_TEMPFAIL = 75


class Command(BaseCommand):
    help = "Apply newsletter bounces: one raw email on stdin, or .eml files and directories of them."

    def add_arguments(self, parser):
        parser.add_argument("paths", nargs="*", help="Files, or directories whose *.eml files are read (sorted)")

    def handle(self, *args, paths: list[str], **options):
        sources = self._sources(paths)
        errors = 0
        for name, read in sources:
            try:
                outcome = delivery_bounce_record(bounce=parse_bounce(read()))
            except Exception as exc:  # the message is kept by the MTA (EX_TEMPFAIL) and retried
                logger.exception("newsletter bounce %s could not be applied", name)
                self.stderr.write(f"{name}: error: {type(exc).__name__}: {exc}")
                errors += 1
                continue
            self.stdout.write(f"{name}: {outcome.summary}")
        if errors:
            raise CommandError(f"{errors} of {len(sources)} message(s) not applied", returncode=EX_TEMPFAIL)

    def _sources(self, paths: list[str]) -> list[tuple[str, object]]:
        if not paths:
            return [("stdin", sys.stdin.buffer.read)]
        sources = []
        for given in paths:
            path = Path(given)
            if path.is_dir():
                sources += [(str(p), p.read_bytes) for p in sorted(path.glob("*.eml")) if p.is_file()]
            elif path.is_file():
                sources.append((str(path), path.read_bytes))
            else:
                raise CommandError(f"{given}: no such file or directory; nothing was read.")
        return sources
