import pytest

from tests.support.plans import ensure_plans


@pytest.fixture(autouse=True)
def plans(request):
    """Free (the default) and Pro, as the data migration makes them."""
    if "django_db" in request.keywords or "db" in request.fixturenames:
        request.getfixturevalue("db")
        ensure_plans()
