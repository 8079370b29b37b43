"""How keys look: ``acr_<8 random>.<32 random>``. The 32-character secret over 62 symbols
carries about 190 random bits; the public prefix (``acr_`` and 8 more) finds the row."""

from __future__ import annotations

import re

from rest_framework_api_key.crypto import KeyGenerator

KEY_PREFIX = "acr_"
PREFIX_RANDOM_LENGTH = 8
SECRET_LENGTH = 32
# What a key looks like, for refusing one in a URL and for redacting logs.
KEY_PATTERN = re.compile(rf"{KEY_PREFIX}[A-Za-z0-9]{{{PREFIX_RANDOM_LENGTH}}}\.[A-Za-z0-9]+")


class AccrualKeyGenerator(KeyGenerator):
    """The library's generator (SHA-512 hash, constant-time compare) with our prefix."""

    def __init__(self) -> None:
        super().__init__(prefix_length=PREFIX_RANDOM_LENGTH, secret_key_length=SECRET_LENGTH)

    def get_prefix(self) -> str:
        return KEY_PREFIX + super().get_prefix()
