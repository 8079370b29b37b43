"""Writes to watchlists. Limits come from the reader's plan; a limit reached raises
``LimitReached`` with a message for the reader, and nothing is written."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models.functions import Lower

from apps.accounts.models import User
from apps.accounts.selectors import plan_for
from apps.ratings.models import Rating
from apps.ratings.selectors import VERSION
from apps.tokens.models import Token

from .models import NAME_MAX_LENGTH, Watchlist, WatchlistItem

DEFAULT_NAME = "My watchlist"


class LimitReached(Exception):
    """A plan limit stops the change; ``message`` says which and how to upgrade."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _limit_message(user: User, what: str) -> str:
    plan = plan_for(user)
    upgrade = f" {plan.how_to_upgrade}" if plan.how_to_upgrade else ""
    return f"Your {plan.name} plan allows {what}.{upgrade}"


def _lock_user(user: User) -> None:
    # Serialises a reader's writes, so two requests at once cannot both pass a limit check
    # or both create the default list.
    User.objects.select_for_update().filter(pk=user.pk).first()


def _clean_name(*, user: User, name: str, exclude: Watchlist | None = None) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError("Give the watchlist a name.", code="required")
    if len(name) > NAME_MAX_LENGTH:
        raise ValidationError(f"A name has at most {NAME_MAX_LENGTH} characters.", code="max_length")
    taken = Watchlist.objects.annotate(lower=Lower("name")).filter(user=user, lower=name.lower())
    if exclude is not None:
        taken = taken.exclude(pk=exclude.pk)
    if taken.exists():
        raise ValidationError(f"You already have a watchlist named “{name}”.", code="unique")
    return name


@transaction.atomic
def watchlist_create(*, user: User, name: str) -> Watchlist:
    """A new named list; the reader's first becomes their default."""
    _lock_user(user)
    name = _clean_name(user=user, name=name)
    plan = plan_for(user)
    held = Watchlist.objects.filter(user=user).count()
    if held >= plan.max_watchlists:
        lists = f"{plan.max_watchlists} watchlist{'s' if plan.max_watchlists != 1 else ''}"
        raise LimitReached(_limit_message(user, lists))
    return Watchlist.objects.create(user=user, name=name, is_default=held == 0)


@transaction.atomic
def watchlist_rename(*, watchlist: Watchlist, name: str) -> Watchlist:
    """Raises ValidationError for a bad or taken name, Watchlist.DoesNotExist when the list was deleted meanwhile."""
    _lock_user(watchlist.user)
    # Deletes take the same lock: once held, a list that is gone stays gone.
    if not Watchlist.objects.filter(pk=watchlist.pk).exists():
        raise Watchlist.DoesNotExist(f"Watchlist {watchlist.pk} was deleted")
    watchlist.name = _clean_name(user=watchlist.user, name=name, exclude=watchlist)
    watchlist.save(update_fields=["name", "updated_at"])
    return watchlist


@transaction.atomic
def watchlist_delete(*, watchlist: Watchlist) -> Watchlist | None:
    """Deletes the list; when it was the default, the oldest remaining list becomes the
    default (returned), or the reader has none until their next star."""
    _lock_user(watchlist.user)
    was_default = watchlist.is_default
    user = watchlist.user
    watchlist.delete()
    if not was_default:
        return None
    successor = Watchlist.objects.filter(user=user).order_by("created_at", "pk").first()
    if successor is not None:
        successor.is_default = True
        successor.save(update_fields=["is_default", "updated_at"])
    return successor


def _default_watchlist(user: User) -> Watchlist:
    """The reader's default list, created on their first star (caller holds the user lock)."""
    watchlist = Watchlist.objects.filter(user=user, is_default=True).first()
    if watchlist is not None:
        return watchlist
    oldest = Watchlist.objects.filter(user=user).order_by("created_at", "pk").first()
    if oldest is not None:  # lists but no default (not left by these services): promote one
        oldest.is_default = True
        oldest.save(update_fields=["is_default", "updated_at"])
        return oldest
    return watchlist_create(user=user, name=DEFAULT_NAME)


@transaction.atomic
def watchlist_add(*, user: User, token: Token, watchlist: Watchlist | None = None) -> WatchlistItem:
    """Adds the token to the list (the default list when none is given) with its price and
    grades now; a token already there is left as it was."""
    _lock_user(user)
    if watchlist is None:
        watchlist = _default_watchlist(user)
    elif watchlist.user_id != user.pk:
        raise PermissionError("Not the reader's watchlist")
    elif not Watchlist.objects.filter(pk=watchlist.pk).exists():  # deleted before the lock was ours
        raise Watchlist.DoesNotExist(f"Watchlist {watchlist.pk} was deleted")
    existing = WatchlistItem.objects.filter(watchlist=watchlist, token=token).first()
    if existing is not None:
        return existing
    plan = plan_for(user)
    if WatchlistItem.objects.filter(watchlist=watchlist).count() >= plan.max_tokens_per_watchlist:
        raise LimitReached(
            _limit_message(user, f"{plan.max_tokens_per_watchlist} tokens a watchlist, and “{watchlist.name}” is full")
        )
    snapshot = token.latest_snapshot
    grades = (
        Rating.objects.filter(token=token, methodology_version=VERSION, latest__isnull=False)
        .values_list("investor_grade", "trader_grade")
        .first()
    ) or ("", "")
    return WatchlistItem.objects.create(
        watchlist=watchlist,
        token=token,
        price_at_add=snapshot.price_usd if snapshot else None,
        investor_grade_at_add=grades[0],
        trader_grade_at_add=grades[1],
    )


@transaction.atomic
def watchlist_remove(*, user: User, token: Token, watchlist: Watchlist | None = None) -> bool:
    """Removes the token from the list (the default list when none is given); whether it was there.
    Raises Watchlist.DoesNotExist when the given list was deleted meanwhile (another tab)."""
    if watchlist is None:
        watchlist = Watchlist.objects.filter(user=user, is_default=True).first()
        if watchlist is None:
            return False
    elif watchlist.user_id != user.pk:
        raise PermissionError("Not the reader's watchlist")
    deleted, _ = WatchlistItem.objects.filter(watchlist=watchlist, token=token).delete()
    if not deleted and not Watchlist.objects.filter(pk=watchlist.pk).exists():
        raise Watchlist.DoesNotExist(f"Watchlist {watchlist.pk} was deleted")
    return bool(deleted)


@transaction.atomic
def watchlist_toggle(*, user: User, token: Token) -> bool:
    """The star: adds the token to the default list, or removes it if there; whether it is
    now starred."""
    _lock_user(user)
    if watchlist_remove(user=user, token=token):
        return False
    watchlist_add(user=user, token=token)
    return True
