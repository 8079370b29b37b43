"""Every API error is a problem (RFC 9457), and /api/v1/me answers the key's owner and plan."""

from __future__ import annotations

import pytest

from tests.api.conftest import api_get, new_key

pytestmark = pytest.mark.django_db


@pytest.fixture
def key(alice):
    return new_key(alice)[1]


def _is_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status and body["type"] == "about:blank" and body["title"] and "code" in body
    return body


def test_an_unknown_api_path_is_a_problem(client, key):
    assert _is_problem(api_get(client, "/api/v1/nothing-here", key), 404)["code"] == "not-found"


def test_a_method_the_view_lacks_is_a_405_problem(client, key):
    response = client.post("/api/v1/me", headers={"X-API-Key": key})
    _is_problem(response, 405)
    assert "GET" in response["Allow"]


def test_a_bad_parameter_is_a_400_problem_with_its_errors(client, key):
    for query in ("days=0", "days=x", "days=91"):
        body = _is_problem(api_get(client, f"/api/v1/me/usage?{query}", key), 400)
        assert body["code"] == "invalid" and "days" in body["errors"]


def test_a_write_needs_the_write_scope(rf, alice):
    from rest_framework.response import Response
    from rest_framework.views import APIView

    class WatchlistWrite(APIView):
        write_scope = "watchlists:write"

        def post(self, request):
            return Response({"ok": True})

    _, read_only = new_key(alice, name="read")
    _, writer = new_key(alice, name="write", scopes=["read", "watchlists:write"])
    view = WatchlistWrite.as_view()
    refused = view(rf.post("/api/v1/x", headers={"X-API-Key": read_only}))
    refused.render()
    assert refused.status_code == 403 and refused["Content-Type"] == "application/problem+json"
    assert view(rf.post("/api/v1/x", headers={"X-API-Key": writer})).status_code == 200


def test_me_shows_the_owner_the_key_the_plan_and_what_is_left(client, alice, key):
    body = api_get(client, "/api/v1/me", key).json()
    assert body["email"] == "alice@example.com"
    assert body["key"]["scopes"] == ["read"] and body["key"]["expires"] is None
    assert body["plan"] == {"name": "Free", "slug": "free", "requests_per_minute": 30, "requests_per_month": 30_000}
    assert body["usage"] == {"remaining_this_minute": 29, "remaining_this_month": 29_999}


def test_a_crash_is_a_500_problem(alice, key, monkeypatch):
    from django.test import Client

    from apps.api.views import MeView

    def crash(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(MeView, "get", crash)
    response = api_get(Client(raise_request_exception=False), "/api/v1/me", key)
    assert _is_problem(response, 500)["code"] == "internal-server-error"
