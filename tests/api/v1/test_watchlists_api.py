"""/api/v1/watchlists/: the caller's lists, read and written through the site's services (its
limits and messages), with the write scope; another reader's list is a 404 like an unknown one."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.tokens.models import Category, Token
from apps.watchlists.models import Watchlist, WatchlistItem
from tests.factories import MetricSnapshotFactory, TokenFactory

pytestmark = pytest.mark.django_db
API = "/api/v1"
JSON = "application/json"


def post(client, url: str, data):
    return client.post(f"{API}{url}", data, content_type=JSON)


def patch(client, url: str, data):
    return client.patch(f"{API}{url}", data, content_type=JSON)


def problem(response, status: int) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/problem+json"
    return response.json()


def test_make_read_rename_and_delete_a_watchlist(writer, reader):
    made = post(writer, "/watchlists/", {"name": "  DeFi   blue chips "})
    assert made.status_code == 201
    body = made.json()
    assert body["name"] == "DeFi blue chips" and body["is_default"] is True and body["items"] == []
    pk = body["id"]
    assert writer.get(f"{API}/watchlists/{pk}/").json()["name"] == "DeFi blue chips"
    [row] = writer.get(f"{API}/watchlists/").json()["results"]
    assert row["id"] == pk
    renamed = patch(writer, f"/watchlists/{pk}/", {"name": "Earners"})
    assert renamed.status_code == 200 and renamed.json()["name"] == "Earners"
    assert Watchlist.objects.get(pk=pk).name == "Earners"
    assert writer.delete(f"{API}/watchlists/{pk}/").status_code == 204
    assert not Watchlist.objects.filter(user=reader).exists()


def test_a_write_is_never_answered_304(writer, reader):
    watchlist = Watchlist.objects.create(user=reader, name="Mine", is_default=True)
    response = writer.patch(
        f"{API}/watchlists/{watchlist.pk}/", {"name": "Ours"}, content_type=JSON, headers={"If-None-Match": "*"}
    )
    assert response.status_code == 200 and "ETag" not in response
    watchlist.refresh_from_db()
    assert watchlist.name == "Ours"


def test_add_and_remove_tokens(writer, reader):
    MetricSnapshotFactory(token__slug="hype", price_usd=7)
    pk = post(writer, "/watchlists/", {"name": "Mine"}).json()["id"]
    added = post(writer, f"/watchlists/{pk}/tokens/", {"token": "hype"})
    assert added.status_code == 201
    assert added.json()["token"]["slug"] == "hype" and added.json()["price_at_add"].startswith("7.")
    assert post(writer, f"/watchlists/{pk}/tokens/", {"token": "hype"}).status_code == 200  # already there
    assert [i["token"]["slug"] for i in writer.get(f"{API}/watchlists/{pk}/").json()["items"]] == ["hype"]
    assert writer.delete(f"{API}/watchlists/{pk}/tokens/hype/").status_code == 204
    assert not WatchlistItem.objects.exists()
    gone = problem(writer.delete(f"{API}/watchlists/{pk}/tokens/hype/"), 404)
    assert "not on this watchlist" in gone["detail"]
    assert "nope" in problem(writer.delete(f"{API}/watchlists/{pk}/tokens/nope/"), 404)["detail"]


def test_an_unknown_token_is_a_400_and_nothing_changes(writer, reader):
    pk = post(writer, "/watchlists/", {"name": "Mine"}).json()["id"]
    body = problem(post(writer, f"/watchlists/{pk}/tokens/", {"token": "atlantis"}), 400)
    assert "atlantis" in body["errors"]["token"][0]
    assert problem(post(writer, f"/watchlists/{pk}/tokens/", {}), 400)["errors"]["token"]
    assert not WatchlistItem.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"name": ""}, "blank"),
        ({"name": "   "}, "blank"),
        ({"name": "x" * 81}, "80 characters"),
        ({"name": "mine"}, "You already have a watchlist named"),
        ({"name": "a\x00b"}, "Null characters"),
        ({}, "required"),
    ],
)
def test_a_bad_name_is_a_400_naming_the_field_and_nothing_changes(writer, reader, data, message):
    Watchlist.objects.create(user=reader, name="Mine", is_default=True)
    other = Watchlist.objects.create(user=reader, name="Other")
    for response in (post(writer, "/watchlists/", data), patch(writer, f"/watchlists/{other.pk}/", data)):
        body = problem(response, 400)
        assert body["code"] == "invalid" and message in " ".join(body["errors"]["name"])
    assert sorted(Watchlist.objects.values_list("name", flat=True)) == ["Mine", "Other"]


def test_a_body_that_is_not_a_json_object_is_a_400(writer):
    assert problem(post(writer, "/watchlists/", ["Mine"]), 400)["errors"]["non_field_errors"]
    response = writer.post(f"{API}/watchlists/", "{not json", content_type=JSON)
    assert problem(response, 400)["code"] == "parse-error"
    assert not Watchlist.objects.exists()


def test_plan_limits_are_the_sites_with_its_message(writer, reader):
    TokenFactory(slug="a"), TokenFactory(slug="b"), TokenFactory(slug="c")
    first = post(writer, "/watchlists/", {"name": "One"}).json()["id"]
    post(writer, "/watchlists/", {"name": "Two"})
    body = problem(post(writer, "/watchlists/", {"name": "Three"}), 403)
    assert body["code"] == "plan-limit"
    assert body["detail"] == "Your Small (tests) plan allows 2 watchlists. Ask us for Pro."
    assert Watchlist.objects.filter(user=reader).count() == 2
    post(writer, f"/watchlists/{first}/tokens/", {"token": "a"})
    post(writer, f"/watchlists/{first}/tokens/", {"token": "b"})
    full = problem(post(writer, f"/watchlists/{first}/tokens/", {"token": "c"}), 403)
    assert full["code"] == "plan-limit" and "2 tokens a watchlist, and “One” is full" in full["detail"]
    assert WatchlistItem.objects.count() == 2


def test_a_read_only_key_reads_but_every_write_is_a_403(read_only, reader):
    TokenFactory(slug="hype")
    watchlist = Watchlist.objects.create(user=reader, name="Mine", is_default=True)
    assert read_only.get(f"{API}/watchlists/").status_code == 200
    assert read_only.get(f"{API}/watchlists/{watchlist.pk}/").status_code == 200
    for response in (
        post(read_only, "/watchlists/", {"name": "Other"}),
        patch(read_only, f"/watchlists/{watchlist.pk}/", {"name": "Other"}),
        read_only.delete(f"{API}/watchlists/{watchlist.pk}/"),
        post(read_only, f"/watchlists/{watchlist.pk}/tokens/", {"token": "hype"}),
        read_only.delete(f"{API}/watchlists/{watchlist.pk}/tokens/hype/"),
    ):
        assert problem(response, 403)["code"] == "insufficient-scope"
    assert list(Watchlist.objects.values_list("name", flat=True)) == ["Mine"]
    assert not WatchlistItem.objects.exists()


def test_another_readers_watchlist_is_a_404_like_an_unknown_id_for_every_method(writer, outsider, reader):
    """RELIABILITY 23."""
    token = TokenFactory(slug="hype")
    theirs = Watchlist.objects.create(user=reader, name="Mine", is_default=True)
    WatchlistItem.objects.create(watchlist=theirs, token=token)
    unknown = Watchlist.objects.order_by("-pk").first().pk + 1000
    for pk in (theirs.pk, unknown):
        calls = [
            outsider.get(f"{API}/watchlists/{pk}/"),
            patch(outsider, f"/watchlists/{pk}/", {"name": "Stolen"}),
            outsider.delete(f"{API}/watchlists/{pk}/"),
            post(outsider, f"/watchlists/{pk}/tokens/", {"token": "hype"}),
            outsider.delete(f"{API}/watchlists/{pk}/tokens/hype/"),
        ]
        assert [problem(r, 404) for r in calls] == [problem(calls[0], 404)] * len(calls)
        assert calls[0].json()["detail"] == "No such watchlist"
    assert outsider.get(f"{API}/watchlists/").json()["results"] == []
    assert Watchlist.objects.get().name == "Mine" and WatchlistItem.objects.count() == 1
    assert outsider.get(f"{API}/watchlists/99999999999999999999/").status_code == 404


def test_watchlists_render_as_csv(writer, reader):
    watchlist = Watchlist.objects.create(user=reader, name="Mine", is_default=True)
    for slug in ("b", "a"):
        WatchlistItem.objects.create(watchlist=watchlist, token=TokenFactory(slug=slug))
    response = writer.get(f"{API}/watchlists/", {"format": "csv"})
    assert response["Content-Type"].startswith("text/csv")
    [row] = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert row["name"] == "Mine" and row["items"].startswith("[")


def fill(user, lists: int, tokens_each: int, start: int = 0) -> None:
    """Lists and items in a few bulk inserts (past the plan's limits, which only the services check)."""
    tokens = Token.objects.bulk_create(
        Token(slug=f"w{start}-{n}", symbol=f"W{n}", name=f"W {start} {n}", category=Category.LENDING)
        for n in range(tokens_each)
    )
    watchlists = Watchlist.objects.bulk_create(
        Watchlist(user=user, name=f"List {start + n}", is_default=start + n == 0) for n in range(lists)
    )
    WatchlistItem.objects.bulk_create(WatchlistItem(watchlist=w, token=t) for w in watchlists for t in tokens)


def count_queries(client, url: str) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{API}{url}?page_size=1000")
    assert response.status_code == 200, response.content
    return len(queries)


def test_list_query_counts_are_flat_from_2_to_200_lists(writer, reader):
    fill(reader, 2, 3)
    count_queries(writer, "/watchlists/")  # the key's first use records when it was last used
    small = count_queries(writer, "/watchlists/")
    fill(reader, 198, 20, start=2)
    assert count_queries(writer, "/watchlists/") == small
    assert len(writer.get(f"{API}/watchlists/?page_size=1000").json()["results"]) == 200


def test_renaming_or_adding_to_a_list_deleted_meanwhile_is_a_404(writer, reader, monkeypatch):
    from apps.api.v1 import watchlists as views

    found = views.watchlist_for_user

    def found_then_deleted(**kwargs):
        stale = found(**kwargs)
        Watchlist.objects.filter(pk=stale.pk).delete()  # another request's delete, just after
        return stale

    TokenFactory(slug="hype")
    monkeypatch.setattr(views, "watchlist_for_user", found_then_deleted)
    for call in (
        lambda pk: patch(writer, f"/watchlists/{pk}/", {"name": "Ours"}),
        lambda pk: post(writer, f"/watchlists/{pk}/tokens/", {"token": "hype"}),
    ):
        pk = Watchlist.objects.create(user=reader, name="Mine", is_default=True).pk
        assert problem(call(pk), 404)["detail"] == "No such watchlist"
        assert not Watchlist.objects.exists() and not WatchlistItem.objects.exists()
