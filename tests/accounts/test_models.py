import pytest
from django.db import IntegrityError, transaction

from apps.accounts.models import User

pytestmark = pytest.mark.django_db


def test_the_database_refuses_a_second_email_differing_only_in_case():
    User.objects.create(email="alice@example.com")
    # Written past the manager (which lowercases), as a raw import or admin edit might.
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="Alice@Example.com")


def test_the_manager_stores_emails_lowercased_and_finds_them_in_any_case():
    user = User.objects.create_user("Alice@Example.COM", "pw-long-enough-1")
    assert user.email == "alice@example.com"
    assert User.objects.get_by_natural_key("ALICE@example.com") == user
