"""Writes on API keys: a reader creates and revokes their own."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction

from apps.accounts.models import User

from .models import APIKey, Scope

MAX_ACTIVE_KEYS = 10


@transaction.atomic
def api_key_create(
    *, user: User, name: str, scopes: list[str], expires_at: dt.datetime | None = None
) -> tuple[APIKey, str]:
    """A new key for ``user``; returns it and its plaintext, which is not stored anywhere."""
    # Locks the reader's row, so two concurrent creations cannot both pass the count.
    User.objects.select_for_update().filter(pk=user.pk).first()
    if APIKey.objects.filter(user=user, revoked=False).count() >= MAX_ACTIVE_KEYS:
        raise ValidationError(f"You have {MAX_ACTIVE_KEYS} active keys; revoke one before creating another.")
    unknown = set(scopes) - set(Scope.values)
    if unknown or Scope.READ not in scopes:
        raise ValidationError("A key reads; it may also write watchlists.")
    ordered = [scope for scope in Scope.values if scope in scopes]
    return APIKey.objects.create_key(user=user, name=name, scopes=" ".join(ordered), expiry_date=expires_at)


def api_key_revoke(*, key: APIKey) -> None:
    """Refused from the key's next request on; revoking cannot be undone."""
    if not key.revoked:
        key.revoked = True
        key.save(update_fields=["revoked"])
