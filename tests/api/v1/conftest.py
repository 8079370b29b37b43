"""The client the read endpoints' tests call the API with."""

import pytest


@pytest.fixture
def api(client):
    """Anonymous for now; once keys authenticate the API, this is where a test key goes."""
    return client
