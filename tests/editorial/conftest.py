"""Fixtures for Top 10 lists: the Editors group, an editor, listable tokens and lists."""

from __future__ import annotations

import datetime as dt
import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.contrib.auth.models import Group
from django.db import connection

from apps.editorial import services
from apps.editorial.models import ListEntry, TopList
from apps.tokens.models import Token
from tests.factories import MetricSnapshotFactory, TokenFactory, UserFactory

PUBLISHED_AT = dt.datetime(2026, 6, 1, 9, tzinfo=dt.UTC)


@pytest.fixture
def editors_group() -> Group:
    """The group the data migrations made; made again when a transactional test flushed it."""
    if not Group.objects.filter(name="Editors").exists():
        importlib.import_module("apps.tokens.migrations.0002_editors_group").create_editors_group(
            apps, SimpleNamespace(connection=connection)
        )
    if not Group.objects.get(name="Editors").permissions.filter(content_type__app_label="editorial").exists():
        importlib.import_module("apps.editorial.migrations.0002_editors_permissions").grant_editorial(
            apps, SimpleNamespace(connection=connection)
        )
    return Group.objects.get(name="Editors")


@pytest.fixture
def editor(client, editors_group):
    user = UserFactory(email="editor@example.com", is_staff=True)
    user.groups.add(editors_group)
    client.force_login(user)
    return user


def make_tokens(count: int, *, prefix: str = "tok") -> list[Token]:
    tokens = []
    for n in range(count):
        token = TokenFactory(slug=f"{prefix}-{n}", symbol=f"{prefix[:2].upper()}{n}", name=f"{prefix.title()} {n}")
        MetricSnapshotFactory(token=token)
        tokens.append(token)
    return tokens


def make_list(tokens: list[Token], *, slug: str = "best", **fields) -> TopList:
    """A complete draft list of ``tokens``, ranked in order."""
    defaults = {"title": f"Best {slug}", "summary": "The best ones.", "criteria": "Being good."}
    top_list = TopList.objects.create(slug=slug, **{**defaults, **fields})
    for rank, token in enumerate(tokens, start=1):
        ListEntry.objects.create(top_list=top_list, token=token, rank=rank, blurb=f"Why {token.symbol}")
    return top_list


def published_list(tokens: list[Token], *, slug: str = "best", at: dt.datetime = PUBLISHED_AT, **fields) -> TopList:
    top_list = make_list(tokens, slug=slug, **fields)
    services.publish(top_list=top_list, editor=None, now=at)
    return top_list


def set_entries(top_list: TopList, tokens: list[Token]) -> None:
    ListEntry.objects.filter(top_list=top_list).delete()
    for rank, token in enumerate(tokens, start=1):
        ListEntry.objects.create(top_list=top_list, token=token, rank=rank)
