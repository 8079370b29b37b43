"""The OpenAPI schema validates with no warnings and describes every field; the docs page runs
from local static files under the site's CSP."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_schema_validates_without_warnings(tmp_path):
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def _properties(node, path=""):
    if isinstance(node, dict):
        for name, field in (node.get("properties") or {}).items():
            yield f"{path}.{name}", field
        for key, value in node.items():
            yield from _properties(value, f"{path}/{key}")
    elif isinstance(node, list):
        for item in node:
            yield from _properties(item, path)


def test_every_field_in_the_schema_has_a_description(client):
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    assert "/api/v1/tokens/" in schema["paths"]
    missing = [
        path
        for path, field in _properties(schema["components"]["schemas"])
        if "description" not in field and "$ref" not in field and "allOf" not in field
    ]
    assert missing == []


def test_docs_page_has_no_external_urls_and_its_scripts_carry_the_csp_nonce(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assert re.findall(r"(?:src|href)=\"(https?:)?//", html) == []
    assert "swagger-ui-bundle.js" in html
    nonce = re.search(r"'nonce-([^']+)'", response["Content-Security-Policy"]).group(1)
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all(f'nonce="{nonce}"' in attrs for attrs in scripts)


def test_every_operation_documents_its_problem_responses_and_parameters_their_bounds(client):
    schema = client.get("/api/v1/schema/", headers={"Accept": "application/vnd.oai.openapi+json"}).json()
    for path, operations in schema["paths"].items():
        for operation in operations.values():
            for status in ("400", "401", "403", "404", "429"):
                content = operation["responses"][status]["content"]
                assert content["application/problem+json"]["schema"] == {"$ref": "#/components/schemas/Problem"}, path
    tokens = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/tokens/"]["get"]["parameters"]}
    assert tokens["ps_min"] == {"type": "number", "minimum": -(10**39), "maximum": 10**39}
    assert "-market_cap" in tokens["ordering"]["enum"]
    usage = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/me/usage"]["get"]["parameters"]}
    assert usage["days"] == {"type": "integer", "minimum": 1, "maximum": 90}
