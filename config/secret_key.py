"""Production's test of a ``SECRET_KEY``: long, random-looking, and not a known placeholder.

A key copied from ``.env.example`` or typed by hand passes a length check; these rules
catch that without rejecting what ``secrets.token_urlsafe(50)`` or Django's
``get_random_secret_key()`` produce.
"""

from __future__ import annotations

import math
import zlib
from collections import Counter

MIN_LENGTH = 50
# Django's own generator gives about 240 bits by this estimate; 160 leaves room for hex keys.
MIN_ENTROPY_BITS = 160
# Words a placeholder carries and a random key of this length all but never does.
PLACEHOLDER_WORDS = ("change", "example", "placeholder", "insecure", "replace", "secret", "password")

ZLIB_OVERHEAD_BYTES = 6  # header and checksum

HOW_TO_MAKE_ONE = "python -c 'import secrets; print(secrets.token_urlsafe(50))'"


def entropy_bits(key: str) -> float:
    """A rough upper bound on the key's randomness: the lesser of its characters' Shannon
    entropy times its length (low for small alphabets) and its deflated size in bits (low
    for repeated patterns) — the two ways hand-made keys fall short."""
    counts = Counter(key)
    shannon = -len(key) * sum(n / len(key) * math.log2(n / len(key)) for n in counts.values())
    deflated = 8 * (len(zlib.compress(key.encode(), 9)) - ZLIB_OVERHEAD_BYTES)
    return min(shannon, deflated)


def secret_key_problem(key: str) -> str | None:
    """Why ``key`` is not fit for production, or None when it is."""
    if not key:
        return "SECRET_KEY must be set"
    if key.startswith("django-insecure"):
        return "SECRET_KEY is Django's insecure development key"
    if len(key) < MIN_LENGTH:
        return f"SECRET_KEY has {len(key)} characters; it needs at least {MIN_LENGTH}"
    lowered = key.lower()
    found = [word for word in PLACEHOLDER_WORDS if word in lowered]
    if found:
        return f"SECRET_KEY looks like a placeholder (it contains {found[0]!r})"
    if entropy_bits(key) < MIN_ENTROPY_BITS:
        return f"SECRET_KEY is too predictable (about {entropy_bits(key):.0f} bits; at least {MIN_ENTROPY_BITS})"
    return None
