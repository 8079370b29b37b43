"""Fixtures shared by the refresh tests that talk to a real provider server on 127.0.0.1."""

import pytest

from tests.support.provider_server import ProviderServer, RecordedData

from .sample_builder import write_sample


@pytest.fixture
def data_dir(tmp_path):
    """A small recorded data set in the providers' own formats."""
    return write_sample(tmp_path / "recorded")


@pytest.fixture
def server(data_dir):
    """CoinGecko under /cg and DefiLlama under /llama, answering from ``data_dir``."""
    with ProviderServer(RecordedData(data_dir)) as running:
        yield running
