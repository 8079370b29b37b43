"""A logging filter that blanks API keys and key-like query parameters in every log line
(runserver's request lines include the query string)."""

from __future__ import annotations

import logging
import re

from .keys import KEY_PATTERN

KEY_PARAMETER = re.compile(r"(?i)((?:api[_-]?key|key|access_token)=)[^&\s\"]+")
REDACTED = "[redacted]"


def redact(text: str) -> str:
    return KEY_PARAMETER.sub(rf"\1{REDACTED}", KEY_PATTERN.sub(REDACTED, text))


class RedactApiKeys(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True
