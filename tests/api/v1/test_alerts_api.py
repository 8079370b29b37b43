"""/api/v1/alert-rules/: the caller's rules, made with the site's form and service (its
validation, limit and messages), paused, resumed and re-thresholded, deleted; another
reader's rule is a 404 like an unknown one."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.watchlists.models import AlertKind, AlertRule, Watchlist
from tests.api.v1.test_watchlists_api import API, patch, post, problem
from tests.factories import TokenFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def hype(db):
    return TokenFactory(slug="hype", symbol="hype")


def rule(user, token, kind=AlertKind.PRICE_MOVE, threshold: Decimal | None = Decimal(10)) -> AlertRule:
    return AlertRule.objects.create(user=user, token=token, kind=kind, threshold=threshold)


def test_make_a_rule_on_a_token_and_on_a_watchlist_then_read_them(writer, reader, hype):
    made = post(writer, "/alert-rules/", {"token": "hype", "kind": "price_move", "threshold": "12.5"})
    assert made.status_code == 201
    body = made.json()
    assert body["token"]["slug"] == "hype" and body["watchlist"] is None
    assert body["threshold"] == "12.5000" and body["direction"] == "any" and body["delivery"] == "in_app"
    assert body["is_active"] is True and body["description"] == "price moves 12.5%+ in 24 h"
    watchlist = Watchlist.objects.create(user=reader, name="Mine", is_default=True)
    second = post(
        writer, "/alert-rules/", {"watchlist": watchlist.pk, "kind": "investor_band", "threshold": 5, "direction": "up"}
    ).json()
    assert second["watchlist"] == {"id": watchlist.pk, "name": "Mine"} and second["threshold"] is None
    assert [r["id"] for r in writer.get(f"{API}/alert-rules/").json()["results"]] == [second["id"], body["id"]]
    assert writer.get(f"{API}/alert-rules/{body['id']}/").json() == body


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        ({"token": "hype", "kind": "price_move"}, "threshold", "This kind of alert needs a threshold."),
        ({"token": "hype", "kind": "price_move", "threshold": "0"}, "threshold", "greater than 0"),
        ({"token": "hype", "kind": "price_move", "threshold": "NaN"}, "threshold", "Enter a number."),
        ({"token": "hype", "kind": "price_move", "threshold": "1e400"}, "threshold", "22 digits"),
        ({"token": "hype", "kind": "price_move", "threshold": "1.23456"}, "threshold", "4 decimal places"),
        ({"token": "atlantis", "kind": "signal_flip"}, "token", "There is no token “atlantis”"),
        ({"kind": "signal_flip"}, "non_field_errors", "Choose either a token or one of your watchlists"),
        ({"token": "hype", "watchlist": "OTHER", "kind": "signal_flip"}, "watchlist", "not one of yours"),
        ({"token": "hype", "kind": "moon"}, "kind", "moon"),
        ({"token": "hype", "kind": "signal_flip", "delivery": "pigeon"}, "delivery", "pigeon"),
        ({"token": ["hype"], "kind": "signal_flip"}, "token", "There is no token"),
    ],
)
def test_bad_input_is_the_site_forms_message_and_makes_nothing(writer, outsider, hype, data, field, message):
    if data.get("watchlist") == "OTHER":
        other = outsider.post(f"{API}/watchlists/", {"name": "Theirs"}, content_type="application/json")
        data = {**data, "watchlist": other.json()["id"]}
    body = problem(post(writer, "/alert-rules/", data), 400)
    assert body["code"] == "invalid" and message in " ".join(body["errors"][field])
    assert not AlertRule.objects.exists()


def test_the_plans_limit_is_a_403_with_the_sites_message(writer, reader, hype):
    for _ in range(2):
        assert post(writer, "/alert-rules/", {"token": "hype", "kind": "signal_flip"}).status_code == 201
    body = problem(post(writer, "/alert-rules/", {"token": "hype", "kind": "signal_flip"}), 403)
    assert body["code"] == "plan-limit"
    assert body["detail"] == "Your Small (tests) plan allows 2 alert rules. Ask us for Pro."
    assert AlertRule.objects.count() == 2


def test_pause_resume_and_move_the_threshold(writer, reader, hype):
    pk = rule(reader, hype).pk
    paused = patch(writer, f"/alert-rules/{pk}/", {"is_active": False})
    assert paused.status_code == 200 and paused.json()["is_active"] is False
    assert AlertRule.objects.get().is_active is False
    moved = patch(writer, f"/alert-rules/{pk}/", {"is_active": True, "threshold": "20"}).json()
    assert moved["is_active"] is True and moved["threshold"] == "20.0000"
    saved = AlertRule.objects.get()
    assert saved.is_active is True and saved.threshold == Decimal(20)


@pytest.mark.parametrize(
    ("kind", "data", "field"),
    [
        (AlertKind.PRICE_MOVE, {"threshold": "0", "is_active": False}, "threshold"),
        (AlertKind.PRICE_MOVE, {"threshold": "-3"}, "threshold"),
        (AlertKind.PRICE_MOVE, {"threshold": "Infinity"}, "threshold"),
        (AlertKind.SIGNAL_FLIP, {"threshold": "5"}, "threshold"),
        (AlertKind.PRICE_MOVE, {"is_active": "perhaps"}, "is_active"),
        (AlertKind.PRICE_MOVE, {}, "non_field_errors"),
    ],
)
def test_a_bad_change_is_a_400_and_changes_nothing(writer, reader, hype, kind, data, field):
    pk = rule(reader, hype, kind, None if kind == AlertKind.SIGNAL_FLIP else Decimal(10)).pk
    assert field in problem(patch(writer, f"/alert-rules/{pk}/", data), 400)["errors"]
    saved = AlertRule.objects.get()
    assert saved.is_active is True and saved.threshold == (None if kind == AlertKind.SIGNAL_FLIP else Decimal(10))


def test_delete_a_rule(writer, reader, hype):
    pk = rule(reader, hype).pk
    assert writer.delete(f"{API}/alert-rules/{pk}/").status_code == 204
    assert not AlertRule.objects.exists()


def test_a_read_only_key_reads_but_every_write_is_a_403(read_only, reader, hype):
    pk = rule(reader, hype).pk
    assert read_only.get(f"{API}/alert-rules/").status_code == 200
    assert read_only.get(f"{API}/alert-rules/{pk}/").status_code == 200
    for response in (
        post(read_only, "/alert-rules/", {"token": "hype", "kind": "signal_flip"}),
        patch(read_only, f"/alert-rules/{pk}/", {"is_active": False}),
        read_only.delete(f"{API}/alert-rules/{pk}/"),
    ):
        assert problem(response, 403)["code"] == "insufficient-scope"
    saved = AlertRule.objects.get()
    assert saved.is_active is True


def test_another_readers_rule_is_a_404_like_an_unknown_id_for_every_method(outsider, reader, hype):
    """RELIABILITY 23."""
    theirs = rule(reader, hype)
    for pk in (theirs.pk, theirs.pk + 1000):
        calls = [
            outsider.get(f"{API}/alert-rules/{pk}/"),
            patch(outsider, f"/alert-rules/{pk}/", {"is_active": False}),
            outsider.delete(f"{API}/alert-rules/{pk}/"),
        ]
        assert [problem(r, 404) for r in calls] == [problem(calls[0], 404)] * len(calls)
        assert calls[0].json()["detail"] == "No such alert rule"
    assert outsider.get(f"{API}/alert-rules/").json()["results"] == []
    saved = AlertRule.objects.get()
    assert saved.is_active is True


def count_queries(client) -> int:
    cache.clear()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(f"{API}/alert-rules/?page_size=1000")
    assert response.status_code == 200, response.content
    return len(queries)


def test_list_query_counts_are_flat_from_4_to_400_rules(writer, reader):
    def add(count: int) -> None:
        tokens = [TokenFactory() for _ in range(2)]
        watchlist = Watchlist.objects.create(user=reader, name=f"List {AlertRule.objects.count()}")
        AlertRule.objects.bulk_create(
            AlertRule(
                user=reader,
                kind=AlertKind.SIGNAL_FLIP,
                **({"token": tokens[n % 2]} if n % 3 else {"watchlist": watchlist}),
            )
            for n in range(count)
        )

    add(4)
    count_queries(writer)  # the key's first use records when it was last used
    small = count_queries(writer)
    add(396)
    assert count_queries(writer) == small


def test_a_change_to_a_rule_deleted_meanwhile_is_a_404(writer, reader, hype, monkeypatch):
    from apps.watchlists import alert_selectors

    found = alert_selectors.rule_for_user

    def found_then_deleted(**kwargs):
        stale = found(**kwargs)
        AlertRule.objects.filter(pk=stale.pk).delete()  # another request's delete, just after
        return stale

    pk = rule(reader, hype).pk
    monkeypatch.setattr(alert_selectors, "rule_for_user", found_then_deleted)
    assert problem(patch(writer, f"/alert-rules/{pk}/", {"is_active": False}), 404)["detail"] == "No such alert rule"
    assert not AlertRule.objects.exists()
