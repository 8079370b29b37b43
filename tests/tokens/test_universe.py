"""The live universe: discovery from the stand-in providers (a synthetic CoinGecko listing and
DefiLlama protocol list on 127.0.0.1), what editors decide, and what sample mode leaves alone."""

from __future__ import annotations

import importlib
import io
import json

import pytest
from django.apps import apps as django_apps
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from apps.tokens import services, tasks
from apps.tokens.ingestion import sample_data_load
from apps.tokens.models import (
    Category,
    CategoryMapping,
    Chain,
    DataSet,
    EditorChoice,
    Listing,
    Source,
    SyncRun,
    Token,
)
from apps.tokens.providers.coingecko import CoinGeckoClient
from apps.tokens.providers.defillama import DefiLlamaClient
from apps.tokens.providers.sample import SampleProvider
from apps.tokens.universe import SAMPLE_REFUSAL, universe_refresh
from tests.factories import TokenFactory, UserFactory
from tests.support.provider_data import SyntheticData
from tests.support.provider_server import ProviderServer

from .test_admin import editor, editors_group  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

NO_FEES = "no-fees-protocol"


class Universe(SyntheticData):
    """Synthetic coins, ranked by their own market caps; protocol *i* is coin *i*. One more
    protocol, linked to the last coin, has no fees data (absent from /overview/fees). Every
    third protocol's category is one no default maps."""

    CATEGORIES = ("Dexs", "Derivatives", "Prediction Market")

    def protocols(self) -> bytes:
        rows = json.loads(super().protocols())
        rows.append(
            {"slug": NO_FEES, "name": "No fees", "symbol": "NF", "gecko_id": self.coingecko_id(self.tokens)}
            | {"category": "Dexs", "chains": ["Ethereum"]}
        )
        return json.dumps(rows).encode()


@pytest.fixture
def data() -> Universe:
    return Universe(tokens=700, protocols=30, days=3)


@pytest.fixture
def stand_in(data):
    with ProviderServer(data) as running:
        yield running


def clients(server) -> dict:
    options = {"max_attempts": 1, "sleep": lambda seconds: None}
    return {
        "market_provider": CoinGeckoClient(f"{server.url}/cg", None, **options),
        "revenue_provider": DefiLlamaClient(f"{server.url}/llama", None, **options),
    }


def discover(server, size: int):
    result = universe_refresh(**clients(server), size=size)
    assert result.run.status == SyncRun.Status.SUCCEEDED, result.run.error
    return result


def by_market_cap(data: Universe) -> list[str]:
    """The coins' ids, largest market cap first (computed from the data, not the server)."""
    return [row["id"] for row in sorted(data.markets(), key=lambda r: -r["market_cap"])]


def index(coingecko_id: str) -> int:
    return int(coingecko_id.removeprefix(SyntheticData.CG_PREFIX))


def active() -> set[str]:
    return set(Token.objects.filter(listing=Listing.ACTIVE).values_list("coingecko_id", flat=True))


def test_discovery_lists_the_top_n_by_market_cap_over_several_pages(stand_in, data):
    discover(stand_in, size=600)

    top = by_market_cap(data)[:600]
    ranked = dict(Token.objects.exclude(market_cap_rank=None).values_list("coingecko_id", "market_cap_rank"))
    assert ranked == {coin: rank for rank, coin in enumerate(top, start=1)}
    pages = [p for p in stand_in.requests if p.startswith("/cg/coins/markets")]
    assert len(pages) == 3 and all("ids=" not in p and "order=market_cap_desc" in p for p in pages)
    assert DataSet.objects.get().mode == DataSet.Mode.LIVE
    run = SyncRun.objects.get(kind="universe")
    assert run.rows_written == Token.objects.count() and run.provider == Source.COINGECKO
    # A coin only DefiLlama brings has no rank; every token is listed.
    assert active() == set(Token.objects.values_list("coingecko_id", flat=True))


def test_a_protocol_with_fees_and_a_coingecko_id_joins_with_its_slug_chains_and_category(stand_in, data):
    discover(stand_in, size=50)

    top = set(by_market_cap(data)[:50])
    outside = sorted(i for i in range(1, 31) if data.coingecko_id(i) not in top and i % 3 == 1)
    assert outside  # "Derivatives" protocols whose coin is not among the 50 largest
    token = Token.objects.get(coingecko_id=data.coingecko_id(outside[0]))
    assert token.defillama_slug == data.llama_slug(outside[0])
    assert token.listing == Listing.ACTIVE and token.market_cap_rank is None
    assert token.category == Category.PERPS_DEX  # "Derivatives", mapped by default
    # CoinGecko's platform id and DefiLlama's chain name are one chain.
    chain = SyntheticData.CHAINS[outside[0] % len(SyntheticData.CHAINS)]
    assert [c.name for c in token.chains.all()] == [{"BSC": "BNB Chain"}.get(chain, chain)]
    # Every protocol joined; the one without fees data did not bring its coin.
    assert Token.objects.exclude(defillama_slug=None).count() == 30
    last = data.coingecko_id(data.tokens)
    assert last not in top and not Token.objects.filter(coingecko_id=last).exists()


def test_an_unmapped_category_is_other_and_listed_for_editors(stand_in, data, client):
    discover(stand_in, size=50)

    mapping = CategoryMapping.objects.get(provider=Source.DEFILLAMA, name="Prediction Market")
    assert mapping.category == Category.OTHER and not mapping.mapped_by_editor
    assert CategoryMapping.objects.get(name="Dexs").category == Category.SPOT_DEX  # a default
    token = Token.objects.get(defillama_slug=data.llama_slug(3))  # CATEGORIES[3 % 3]: "Dexs"
    assert token.category == Category.SPOT_DEX
    unmapped = Token.objects.get(defillama_slug=data.llama_slug(2))  # "Prediction Market"
    assert unmapped.category == Category.OTHER

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:tokens_categorymapping_changelist"), {"unmapped": "yes"})
    assert [m.name for m in response.context["cl"].result_list] == ["Prediction Market"]


def test_an_editors_mapping_wins_over_the_default(stand_in, data):
    CategoryMapping.objects.create(
        provider=Source.DEFILLAMA, name="Dexs", category=Category.LENDING, mapped_by_editor=True
    )
    discover(stand_in, size=50)

    assert Token.objects.get(defillama_slug=data.llama_slug(3)).category == Category.LENDING
    assert CategoryMapping.objects.get(name="Dexs").category == Category.LENDING


def test_editing_a_mapping_in_the_admin_recategorises_at_once_but_not_an_editors_choice(
    stand_in,
    data,
    client,
    editor,  # noqa: F811
):
    importlib.import_module("apps.tokens.migrations.0012_universe_category_locked").grant_category_mappings(
        django_apps, type("Editor", (), {"connection": connection})
    )
    discover(stand_in, size=50)
    chosen = Token.objects.get(defillama_slug=data.llama_slug(5))  # "Prediction Market" too
    chosen.category, chosen.category_locked = Category.ROBOTICS, True
    chosen.save()
    mapping = CategoryMapping.objects.get(name="Prediction Market")

    response = client.post(
        reverse("admin:tokens_categorymapping_change", args=[mapping.pk]), {"category": Category.YIELD}
    )

    assert response.status_code == 302
    mapping.refresh_from_db()
    assert mapping.category == Category.YIELD and mapping.mapped_by_editor
    assert Token.objects.get(defillama_slug=data.llama_slug(2)).category == Category.YIELD
    assert Token.objects.get(pk=chosen.pk).category == Category.ROBOTICS
    discover(stand_in, size=50)  # and the next refresh agrees
    assert Token.objects.get(defillama_slug=data.llama_slug(2)).category == Category.YIELD
    assert Token.objects.get(pk=chosen.pk).category == Category.ROBOTICS


def test_new_listings_join_dropped_ones_are_delisted_not_deleted_and_come_back(stand_in, data):
    discover(stand_in, size=90)
    ranked = by_market_cap(data)
    protocols = {data.coingecko_id(i) for i in range(1, 31)}
    assert active() == set(ranked[:90]) | protocols
    count = Token.objects.count()

    discover(stand_in, size=100)  # ten more join
    assert active() == set(ranked[:100]) | protocols
    assert Token.objects.count() == count + len(set(ranked[90:100]) - protocols)

    discover(stand_in, size=80)  # twenty drop out
    dropped = set(ranked[80:100]) - protocols
    delisted = Token.objects.filter(listing=Listing.DELISTED)
    assert set(delisted.values_list("coingecko_id", flat=True)) == dropped
    assert all(t.delisted_at and t.market_cap_rank is None for t in delisted)
    assert Token.objects.count() == count + len(set(ranked[90:100]) - protocols)  # none deleted

    discover(stand_in, size=100)  # and return
    assert active() == set(ranked[:100]) | protocols
    assert not Token.objects.filter(delisted_at__isnull=False).exists()


def test_a_refresh_with_the_same_input_changes_nothing(stand_in, data):
    discover(stand_in, size=300)
    before = sorted(Token.objects.values_list("slug", "category", "listing", "market_cap_rank", "defillama_slug"))
    chains = Token.chains.through.objects.count()

    again = discover(stand_in, size=300)

    assert again.run.rows_written == 0 and not again.changed_tokens
    after = sorted(Token.objects.values_list("slug", "category", "listing", "market_cap_rank", "defillama_slug"))
    assert after == before and Token.chains.through.objects.count() == chains


def test_editors_include_keeps_a_delisted_token_tracked_and_exclude_drops_one_from_quotes(stand_in, data):
    discover(stand_in, size=100)
    ranked = by_market_cap(data)
    protocols = {data.coingecko_id(i) for i in range(1, 31)}
    kept = next(c for c in ranked[90:100] if c not in protocols)
    dropped = next(c for c in ranked[90:100] if c not in protocols and c != kept)
    excluded = ranked[0]
    Token.objects.filter(coingecko_id=kept).update(editor_choice=EditorChoice.INCLUDE)
    Token.objects.filter(coingecko_id=excluded).update(editor_choice=EditorChoice.EXCLUDE)

    discover(stand_in, size=90)

    assert Token.objects.get(coingecko_id=kept).listing == Listing.DELISTED
    quoted = services.quoted_tokens()
    assert kept in quoted and dropped not in quoted and excluded not in quoted
    assert Token.objects.get(coingecko_id=excluded).listing == Listing.ACTIVE  # listed, but never tracked
    assert ranked[1] in quoted


def test_ids_an_editor_locked_and_slugs_taken_are_kept(stand_in, data):
    first = by_market_cap(data)[0]
    TokenFactory(slug=first, coingecko_id=None, defillama_slug=None, editor_choice=EditorChoice.INCLUDE)
    locked = TokenFactory(slug="locked", coingecko_id=data.coingecko_id(4), defillama_slug=None, mapping_locked=True)

    discover(stand_in, size=10)

    joined = Token.objects.get(coingecko_id=first)
    assert joined.slug == f"{first}-2"
    locked.refresh_from_db()
    assert locked.defillama_slug is None and locked.listing == Listing.ACTIVE


def test_a_sample_database_refuses_a_live_universe_refresh(stand_in, data_dir):
    sample_data_load(provider=SampleProvider(data_dir))
    tokens = sorted(Token.objects.values_list("slug", "listing", "category"))

    result = universe_refresh(**clients(stand_in), size=50)

    assert result.run.status == SyncRun.Status.FAILED and "clear_data" in result.run.error
    assert sorted(Token.objects.values_list("slug", "listing", "category")) == tokens
    assert not stand_in.requests


def test_sample_mode_discovers_nothing(data_dir, settings):
    settings.ACCRUAL_DATA_MODE = "sample"
    sample_data_load(provider=SampleProvider(data_dir))
    tokens = sorted(Token.objects.values_list("slug", "listing", "category"))
    runs = SyncRun.objects.count()

    out = io.StringIO()
    call_command("refresh_data", "universe", stdout=out, stderr=io.StringIO())
    outcome = tasks.refresh_universe.apply()
    given = universe_refresh(market_provider=SampleProvider(data_dir), revenue_provider=SampleProvider(data_dir))

    assert "universe: skipped" in out.getvalue() and SAMPLE_REFUSAL in out.getvalue()
    assert outcome.result == {"skipped": True, "reason": SAMPLE_REFUSAL}
    assert given.run.status == SyncRun.Status.FAILED and given.run.error == SAMPLE_REFUSAL
    assert SyncRun.objects.count() == runs + 1  # the service's refusal only
    assert sorted(Token.objects.values_list("slug", "listing", "category")) == tokens


def test_refresh_data_fills_a_live_universe_first(stand_in, settings):
    settings.ACCRUAL_DATA_MODE = "live"
    settings.ACCRUAL_UNIVERSE_SIZE = 20
    settings.COINGECKO_BASE_URL = f"{stand_in.url}/cg"
    settings.DEFILLAMA_BASE_URL = f"{stand_in.url}/llama"
    settings.COINGECKO_RATE_LIMIT_PER_MINUTE = settings.DEFILLAMA_RATE_LIMIT_PER_MINUTE = 0
    settings.PROVIDER_MAX_ATTEMPTS = 1
    out = io.StringIO()

    call_command("refresh_data", "universe", "markets", stdout=out, stderr=io.StringIO())

    assert "universe: Succeeded" in out.getvalue()
    quoted = Token.objects.filter(price_days__isnull=False).distinct().count()
    assert quoted == Token.objects.count() >= 20


def test_the_universe_task_runs_daily_and_expires_before_its_next_run(settings):
    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == "tokens.refresh_universe")
    assert entry["options"]["expires"] < 24 * 3600
    assert tasks.REFRESH_TASKS["universe"].name == "tokens.refresh_universe"


def queries_of_a_refresh(size: int) -> int:
    data = Universe(tokens=size, protocols=5, days=2)
    with ProviderServer(data) as server:
        providers = clients(server)
        with CaptureQueriesContext(connection) as first:
            universe_refresh(**providers, size=size)
        universe_refresh(**providers, size=size // 2)  # half drop out: a bulk update
        with CaptureQueriesContext(connection) as back:
            universe_refresh(**providers, size=size)  # and return
    Token.objects.all().delete()
    Chain.objects.all().delete()
    DataSet.objects.all().delete()
    CategoryMapping.objects.all().delete()
    return len(first), len(back)


def test_query_count_is_flat_in_the_size_of_the_universe():
    small = queries_of_a_refresh(10)
    large = queries_of_a_refresh(1000)

    assert Token.objects.count() == 0
    # The same statements whatever the size; a large bulk update goes through a scratch
    # table (savepoint, create, truncate, update, release in place of one UPDATE). A query
    # per token would add hundreds.
    assert large[0] == small[0]
    assert small[1] <= large[1] <= small[1] + 4


def test_admin_actions_set_the_editors_choice_and_an_added_token_is_tracked(client, editor):  # noqa: F811
    tokens = TokenFactory.create_batch(3)
    changelist = reverse("admin:tokens_token_changelist")

    for action, choice in [
        ("track_never", EditorChoice.EXCLUDE),
        ("track_always", EditorChoice.INCLUDE),
        ("track_automatically", EditorChoice.AUTOMATIC),
    ]:
        response = client.post(changelist, {"action": action, "_selected_action": [tokens[0].pk, tokens[1].pk]})
        assert response.status_code == 302
        assert [Token.objects.get(pk=t.pk).editor_choice for t in tokens] == [choice, choice, EditorChoice.AUTOMATIC]

    response = client.post(
        reverse("admin:tokens_token_add"),
        {
            "name": "Hand Made",
            "symbol": "HND",
            "slug": "hand-made",
            "category": Category.DEPIN,
            "editor_choice": EditorChoice.AUTOMATIC,
            "coingecko_id": "hand-made",
            "accrual_policies-TOTAL_FORMS": "0",
            "accrual_policies-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    added = Token.objects.get(slug="hand-made")
    assert added.editor_choice == EditorChoice.INCLUDE and added.category_locked
    assert "hand-made" in services.quoted_tokens()
    # Never tracked: out of every refresh, though listed.
    Token.objects.filter(pk=added.pk).update(editor_choice=EditorChoice.EXCLUDE, listing=Listing.ACTIVE)
    assert "hand-made" not in services.quoted_tokens()


@pytest.mark.django_db(transaction=True)
def test_no_transaction_is_open_while_the_providers_are_asked(stand_in):
    providers = clients(stand_in)
    open_during_calls = []
    for provider in providers.values():
        get_json = provider.http.get_json

        def asked(path, params=None, get_json=get_json):
            open_during_calls.append((path, connection.in_atomic_block))
            return get_json(path, params)

        provider.http.get_json = asked

    universe_refresh(**providers, size=300)

    assert len(open_during_calls) == 5  # two listing pages, the coin list, protocols, fees overview
    assert not any(in_transaction for _, in_transaction in open_during_calls), open_during_calls
    assert Token.objects.filter(listing=Listing.ACTIVE).count() >= 300


def test_a_discovery_response_of_the_wrong_shape_writes_nothing(stand_in, data):
    discover(stand_in, size=100)
    before = sorted(Token.objects.values_list("slug", "listing", "market_cap_rank", "category"))
    page = [dict(row, market_cap_rank="1") for row in data.markets()[:250]]  # a rank as a string
    stand_in.inject("/cg/coins/markets", None, ("body", json.dumps(page).encode()))

    result = universe_refresh(**clients(stand_in), size=500)

    assert result.run.status == SyncRun.Status.FAILED and "market_cap_rank" in result.run.error
    assert sorted(Token.objects.values_list("slug", "listing", "market_cap_rank", "category")) == before
