"""Shared fixtures."""

import pytest

from tests.support.provider_data import RecordedData
from tests.support.provider_server import ProviderServer
from tests.tokens.sample_builder import write_sample


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty cache (data status, medians), and no API page held in
    this process."""
    from django.core.cache import cache

    from apps.api.v1.kept_pages import process_pages

    cache.clear()
    process_pages.clear()
    yield
    cache.clear()
    process_pages.clear()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Expose each phase's report on the item (``item.rep_call``) so fixtures can react to failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def data_dir(tmp_path):
    """A small recorded data set in the providers' own formats."""
    return write_sample(tmp_path / "recorded")


@pytest.fixture
def server(data_dir):
    """A real server on 127.0.0.1: CoinGecko under /cg and DefiLlama under /llama,
    answering from ``data_dir`` (tests of one client use pytest-httpserver instead)."""
    with ProviderServer(RecordedData(data_dir)) as running:
        yield running
