"""CoinGecko id ↔ DefiLlama slug mapping, editor overrides, and the admin's lists and actions."""

import datetime as dt

import pytest
from django.contrib.auth.models import Group

from apps.tokens import refresh
from apps.tokens.models import DefiLlamaProtocol, SyncRun, Token
from apps.tokens.providers.defillama import ProtocolInfo
from tests.factories import TokenFactory, UserFactory

pytestmark = pytest.mark.django_db


class Protocols:
    source = "defillama"

    def __init__(self, *protocols):
        self._protocols = list(protocols)

    def protocols(self):
        return self._protocols


def proto(slug, gecko_id):
    return ProtocolInfo(slug=slug, name=slug.title(), symbol="", gecko_id=gecko_id, category="Dexs")


def test_tokens_are_mapped_by_the_protocols_gecko_id():
    hype = TokenFactory(slug="hyperliquid", coingecko_id="hyperliquid", defillama_slug=None)
    result = refresh.mapping_refresh(provider=Protocols(proto("hyperliquid", "hyperliquid"), proto("orphan", None)))
    hype.refresh_from_db()
    assert hype.defillama_slug == "hyperliquid"
    assert result.changed_tokens == {hype.pk}
    assert DefiLlamaProtocol.objects.count() == 2
    assert result.run.status == SyncRun.Status.SUCCEEDED


def test_an_editors_mapping_is_never_overwritten():
    token = TokenFactory(coingecko_id="aave", defillama_slug=None, mapping_locked=True)
    refresh.mapping_refresh(provider=Protocols(proto("aave-v3", "aave")))
    token.refresh_from_db()
    assert token.defillama_slug is None


def test_a_protocol_already_mapped_is_not_given_twice():
    TokenFactory(coingecko_id="one", defillama_slug="shared")
    other = TokenFactory(coingecko_id="two", defillama_slug=None)
    refresh.mapping_refresh(provider=Protocols(proto("shared", "two")))
    other.refresh_from_db()
    assert other.defillama_slug is None


def test_mapping_twice_changes_nothing():
    TokenFactory(coingecko_id="gmx", defillama_slug=None)
    provider = Protocols(proto("gmx", "gmx"))
    refresh.mapping_refresh(provider=provider)
    state = list(Token.objects.values_list("pk", "defillama_slug"))
    second = refresh.mapping_refresh(provider=provider)
    assert second.changed_tokens == set()
    assert list(Token.objects.values_list("pk", "defillama_slug")) == state


@pytest.fixture
def superuser_client(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_admin_lists_unmapped_protocols_and_tokens(superuser_client):
    TokenFactory(slug="mapped", name="Wellmapped Token", defillama_slug="mapped-llama")
    TokenFactory(slug="lonely", name="Lonely Token", defillama_slug=None)
    refresh.mapping_refresh(provider=Protocols(proto("mapped-llama", None), proto("nobody-llama", None)))
    page = superuser_client.get("/admin/tokens/defillamaprotocol/?mapped=no").content.decode()
    assert "nobody-llama" in page and "mapped-llama" not in page
    page = superuser_client.get("/admin/tokens/token/?mapping=unmapped").content.decode()
    assert "Lonely Token" in page and "Wellmapped Token" not in page


def test_an_editor_changing_the_mapping_in_the_admin_locks_it(client):
    editor = UserFactory(is_staff=True)
    editor.groups.add(Group.objects.get(name="Editors"))
    client.force_login(editor)
    fetched = dt.datetime(2026, 11, 30, tzinfo=dt.UTC)
    token = TokenFactory(
        slug="aave",
        name="Aave",
        symbol="AAVE",
        defillama_slug=None,
        price_history_at=fetched,
        revenue_history_at=fetched,
    )
    page = client.get(f"/admin/tokens/token/{token.pk}/change/")
    assert page.status_code == 200
    form = {
        "name": "Aave",
        "symbol": "AAVE",
        "slug": "aave",
        "category": token.category,
        "editor_choice": token.editor_choice,
        "coingecko_id": token.coingecko_id or "",
        "defillama_slug": "aave-v3",
        "website": "",
        "image_url": "",
        "description": "",
        "accrual_policies-TOTAL_FORMS": "0",
        "accrual_policies-INITIAL_FORMS": "0",
        "accrual_policies-MIN_NUM_FORMS": "0",
        "accrual_policies-MAX_NUM_FORMS": "1000",
    }
    response = client.post(f"/admin/tokens/token/{token.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:2000]
    token.refresh_from_db()
    assert token.defillama_slug == "aave-v3" and token.mapping_locked
    # The new protocol's revenue is another series: backfilled as a new token's; prices stay.
    assert token.revenue_history_at is None and token.price_history_at == fetched


def test_refresh_now_action_queues_the_runs_kinds(superuser_client, django_capture_on_commit_callbacks, monkeypatch):
    queued = []
    from apps.tokens import tasks

    monkeypatch.setitem(tasks.REFRESH_TASKS, "markets", type("T", (), {"delay": lambda: queued.append("markets")}))
    run = SyncRun.objects.create(provider="coingecko", kind="markets", started_at="2026-11-20T00:00Z")
    with django_capture_on_commit_callbacks(execute=True):
        response = superuser_client.post(
            "/admin/tokens/syncrun/", {"action": "refresh_now", "_selected_action": [run.pk]}, follow=True
        )
    assert response.status_code == 200
    assert queued == ["markets"]
    assert "Queued a refresh of: markets" in response.content.decode()
