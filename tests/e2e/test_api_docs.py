"""The API docs page in a real browser: Swagger UI runs from local files under the site's CSP."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_api_docs_page_renders_the_operations_without_csp_errors(live_server, page, console_errors):
    outside = []
    page.on("request", lambda request: None if request.url.startswith(live_server.url) else outside.append(request.url))
    page.goto(f"{live_server.url}/api/docs/")
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/tokens/").first).to_be_visible()
    assert outside == []
    assert console_errors == []
