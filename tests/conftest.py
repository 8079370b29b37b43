"""Shared fixtures."""

import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (data status, medians)."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the item (``item.rep_call``) so fixtures can react to failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
