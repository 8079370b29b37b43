"""Writes on a reader's account."""

from __future__ import annotations

from django.db import transaction

from apps.accounts.models import User


@transaction.atomic
def account_delete(*, user: User) -> None:
    """Delete ``user`` and everything of theirs: email addresses, authenticators and the rest
    of their rows go with the user (their foreign keys cascade)."""
    user.delete()
