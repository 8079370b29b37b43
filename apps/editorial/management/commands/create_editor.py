"""Create an editor: a staff account in the Editors group, which may curate Top 10 lists and
tokens in the admin but not ratings, users or plans."""

from __future__ import annotations

import getpass

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.core.validators import validate_email
from django.db import transaction

from apps.accounts.models import User

EDITORS = "Editors"


class Command(BaseCommand):
    help = "Create (or promote) an editor account: staff, in the Editors group, its address verified."

    def add_arguments(self, parser):
        parser.add_argument("email")
        parser.add_argument("--password", help="The password (asked for when not given; kept when promoting)")

    def handle(self, *args, email: str, password: str | None, **options):
        email = email.strip().lower()
        try:
            validate_email(email)
        except ValidationError as exc:
            raise CommandError(f"{email!r} is not an email address.") from exc
        group = Group.objects.filter(name=EDITORS).first()
        if group is None:
            raise CommandError("The Editors group is missing: run `python manage.py migrate` first.")
        user = User.objects.filter(email__iexact=email).first()
        if password is None and user is None:
            password = getpass.getpass("Password: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords differ; nothing was created.")
        if password is not None:
            try:
                validate_password(password, user)
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages) + " Nothing was created.") from exc
        with transaction.atomic():
            created = user is None
            if created:
                user = User.objects.create_user(email, password, is_staff=True)
            else:
                user.is_staff = True
                if password is not None:
                    user.set_password(password)
                user.save()
            user.groups.add(group)
            # The operator vouches for the address: the admin login needs it verified.
            EmailAddress.objects.update_or_create(
                user=user, email=user.email, defaults={"verified": True, "primary": True}
            )
        verb = "Created" if created else "Made"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} editor {user.email}: log in at /admin/ to curate Top 10 lists and tokens.")
        )
