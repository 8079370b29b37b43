import pytest
from allauth.account.models import EmailAddress

from tests.factories import UserFactory
from tests.support.plans import ensure_plans

PASSWORD = "correct horse battery staple"


def make_reader(email: str = "alice@example.com", **extra):
    """A reader who has confirmed their email, as after a completed sign-up."""
    user = UserFactory(email=email, password=PASSWORD, **extra)
    EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
    return user


@pytest.fixture
def alice(db):
    return make_reader()


def log_in(client, email: str, password: str = PASSWORD, next: str | None = None):
    data = {"login": email, "password": password} | ({"next": next} if next else {})
    return client.post("/account/login/", data)


@pytest.fixture(autouse=True)
def plans(request):
    """Free (the default) and Pro, as the data migration makes them."""
    if "django_db" in request.keywords or "db" in request.fixturenames:
        request.getfixturevalue("db")
        ensure_plans()
