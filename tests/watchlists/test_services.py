"""Watchlist services: names, the default list, the star, and plan limits (a clear message,
nothing written)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from apps.accounts.models import Plan
from apps.watchlists.models import Watchlist, WatchlistItem
from apps.watchlists.services import (
    DEFAULT_NAME,
    LimitReached,
    watchlist_add,
    watchlist_create,
    watchlist_delete,
    watchlist_remove,
    watchlist_rename,
    watchlist_toggle,
)
from tests.factories import TokenFactory, UserFactory
from tests.watchlists.builders import priced_token, rate

pytestmark = pytest.mark.django_db


def test_first_list_is_the_default_and_later_ones_are_not():
    user = UserFactory()
    first = watchlist_create(user=user, name="Core")
    second = watchlist_create(user=user, name="Ideas")
    assert first.is_default and not second.is_default


def test_names_are_unique_per_reader_ignoring_case_and_spaces():
    user, other = UserFactory(), UserFactory()
    watchlist_create(user=user, name="Core")
    with pytest.raises(ValidationError, match="already have a watchlist named"):
        watchlist_create(user=user, name="  core ")
    watchlist_create(user=other, name="Core")  # another reader may use the name
    assert Watchlist.objects.filter(user=user).count() == 1


def test_a_blank_name_is_refused():
    with pytest.raises(ValidationError, match="Give the watchlist a name"):
        watchlist_create(user=UserFactory(), name="   ")


def test_the_watchlist_limit_gives_a_clear_message_and_creates_nothing():
    user = UserFactory()
    for name in ("a", "b", "c"):
        watchlist_create(user=user, name=name)
    with pytest.raises(LimitReached) as caught:
        watchlist_create(user=user, name="d")
    assert "Your Free plan allows 3 watchlists." in caught.value.message
    assert "hello@accrual.invalid" in caught.value.message  # how to upgrade
    assert Watchlist.objects.filter(user=user).count() == 3


def test_a_pro_reader_may_hold_more_lists():
    user = UserFactory()
    user.plan = Plan.objects.get(slug="pro")
    user.save()
    for n in range(4):
        watchlist_create(user=user, name=f"list {n}")
    assert Watchlist.objects.filter(user=user).count() == 4


def test_rename_changes_the_name_and_refuses_a_taken_one():
    user = UserFactory()
    core = watchlist_create(user=user, name="Core")
    ideas = watchlist_create(user=user, name="Ideas")
    watchlist_rename(watchlist=core, name="Holdings")
    with pytest.raises(ValidationError):
        watchlist_rename(watchlist=ideas, name="HOLDINGS")
    assert list(Watchlist.objects.filter(user=user).values_list("name", flat=True).order_by("name")) == [
        "Holdings",
        "Ideas",
    ]


def test_renaming_a_list_to_its_own_name_in_another_case_is_allowed():
    core = watchlist_create(user=UserFactory(), name="core")
    watchlist_rename(watchlist=core, name="Core")
    assert Watchlist.objects.get(pk=core.pk).name == "Core"


def test_deleting_the_default_makes_the_oldest_other_list_the_default():
    user = UserFactory()
    core = watchlist_create(user=user, name="Core")
    ideas = watchlist_create(user=user, name="Ideas")
    watchlist_create(user=user, name="Later")
    assert watchlist_delete(watchlist=core) == ideas
    assert list(Watchlist.objects.filter(user=user, is_default=True)) == [ideas]


def test_deleting_the_last_list_leaves_none_and_the_next_star_makes_a_default():
    user = UserFactory()
    only = watchlist_create(user=user, name="Only")
    assert watchlist_delete(watchlist=only) is None
    item = watchlist_add(user=user, token=TokenFactory())
    assert item.watchlist.is_default and item.watchlist.name == DEFAULT_NAME


def test_deleting_another_list_keeps_the_default():
    user = UserFactory()
    core = watchlist_create(user=user, name="Core")
    ideas = watchlist_create(user=user, name="Ideas")
    watchlist_delete(watchlist=ideas)
    assert Watchlist.objects.get(user=user).pk == core.pk and Watchlist.objects.get(user=user).is_default


def test_a_reader_cannot_hold_two_defaults():
    user = UserFactory()
    Watchlist.objects.create(user=user, name="a", is_default=True)
    with pytest.raises(IntegrityError), transaction.atomic():
        Watchlist.objects.create(user=user, name="b", is_default=True)


def test_the_first_star_creates_the_default_list_and_records_price_and_grades():
    user = UserFactory()
    token = priced_token("alpha", price="4.00", investor="B", trader="D")
    item = watchlist_add(user=user, token=token)
    assert item.watchlist.name == DEFAULT_NAME and item.watchlist.is_default
    assert item.price_at_add == Decimal("4.00")
    assert (item.investor_grade_at_add, item.trader_grade_at_add) == ("B", "D")


def test_adding_a_token_twice_keeps_one_item_as_first_added():
    user = UserFactory()
    token = priced_token("alpha", price="4")
    first = watchlist_add(user=user, token=token)
    rate(token, investor="A")
    again = watchlist_add(user=user, token=token)
    assert again.pk == first.pk and again.investor_grade_at_add == "C"
    assert WatchlistItem.objects.count() == 1


def test_the_token_limit_gives_a_clear_message_and_adds_nothing():
    user = UserFactory()
    plan = Plan.objects.get(slug="free")
    plan.max_tokens_per_watchlist = 2
    plan.save()
    tokens = [TokenFactory() for _ in range(3)]
    watchlist_add(user=user, token=tokens[0])
    watchlist_add(user=user, token=tokens[1])
    with pytest.raises(LimitReached) as caught:
        watchlist_add(user=user, token=tokens[2])
    assert "Your Free plan allows 2 tokens a watchlist, and “My watchlist” is full." in caught.value.message
    assert WatchlistItem.objects.filter(token=tokens[2]).count() == 0


def test_a_token_already_in_a_full_list_is_not_refused():
    user = UserFactory()
    Plan.objects.filter(slug="free").update(max_tokens_per_watchlist=1)
    token = TokenFactory()
    watchlist_add(user=user, token=token)
    assert watchlist_add(user=user, token=token).token == token


def test_adding_to_another_readers_list_is_refused():
    theirs = watchlist_create(user=UserFactory(), name="Theirs")
    with pytest.raises(PermissionError):
        watchlist_add(user=UserFactory(), token=TokenFactory(), watchlist=theirs)
    assert not WatchlistItem.objects.exists()


def test_adding_to_a_named_list_leaves_the_default_alone():
    user = UserFactory()
    watchlist_create(user=user, name="Core")
    ideas = watchlist_create(user=user, name="Ideas")
    item = watchlist_add(user=user, token=TokenFactory(), watchlist=ideas)
    assert item.watchlist == ideas


def test_toggle_adds_then_removes():
    user, token = UserFactory(), TokenFactory()
    assert watchlist_toggle(user=user, token=token) is True
    assert WatchlistItem.objects.filter(watchlist__user=user, token=token).exists()
    assert watchlist_toggle(user=user, token=token) is False
    assert not WatchlistItem.objects.filter(watchlist__user=user, token=token).exists()


def test_remove_says_whether_the_token_was_there():
    user, token = UserFactory(), TokenFactory()
    assert watchlist_remove(user=user, token=token) is False
    watchlist_add(user=user, token=token)
    assert watchlist_remove(user=user, token=token) is True


def test_the_star_limit_counts_the_first_list_against_the_watchlist_limit():
    user = UserFactory()
    Plan.objects.filter(slug="free").update(max_watchlists=0)
    with pytest.raises(LimitReached, match="allows 0 watchlists"):
        watchlist_toggle(user=user, token=TokenFactory())
    assert not Watchlist.objects.exists()
