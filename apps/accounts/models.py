"""Accounts: the custom user (email is the login) and the plans that set each reader's limits."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def get_by_natural_key(self, username: str) -> User:
        return self.get(email__iexact=username)

    def create_user(self, email: str, password: str | None = None, **extra) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra) -> User:
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)


class Plan(models.Model):
    """What a reader may hold (watchlists, alert rules, webhooks) and the API quotas: data
    editors change in the admin. Field defaults are the Free plan's, so a database without
    plans still has limits (``plan_for`` falls back to an unsaved default)."""

    name = models.CharField(max_length=50, unique=True)
    slug = models.SlugField(max_length=50, unique=True)
    description = models.TextField(blank=True)
    max_watchlists = models.PositiveIntegerField(default=3)
    max_tokens_per_watchlist = models.PositiveIntegerField(default=50)
    max_alert_rules = models.PositiveIntegerField(default=10)
    max_webhooks = models.PositiveIntegerField(default=0)
    api_requests_per_minute = models.PositiveIntegerField(default=30)
    api_requests_per_day = models.PositiveIntegerField(default=1000)
    # The API's quotas are per minute and per calendar month (UTC); see apps/api/quotas.py.
    api_requests_per_month = models.PositiveIntegerField(default=30_000)
    is_default = models.BooleanField(
        default=False, help_text="The plan of every reader who has none assigned (one plan at most)."
    )
    how_to_upgrade = models.TextField(
        blank=True, help_text="Shown beside a reader's usage and with every limit reached."
    )

    class Meta:
        ordering = ["max_watchlists", "name"]
        constraints = [
            models.UniqueConstraint(fields=["is_default"], condition=models.Q(is_default=True), name="plan_one_default")
        ]

    def __str__(self) -> str:
        return self.name


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    display_name = models.CharField(max_length=150, blank=True)
    is_staff = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    date_joined = models.DateTimeField(default=timezone.now)
    # None: the default plan, so changing which plan is the default moves everyone on it.
    plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="users",
        help_text="Empty: the default plan.",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["email"]
        constraints = [
            # Alice@Example.com and alice@example.com are one account, whoever writes the row.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email
