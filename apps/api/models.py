"""API keys: each belongs to one reader, whose plan sets its quotas. The database holds the
key's prefix and a SHA-512 hash of the whole key, never the key itself."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from rest_framework_api_key.models import AbstractAPIKey, BaseAPIKeyManager

from .keys import AccrualKeyGenerator


class Scope(models.TextChoices):
    READ = "read", "Read"
    WATCHLISTS_WRITE = "watchlists:write", "Write watchlists"


class APIKeyManager(BaseAPIKeyManager):
    key_generator = AccrualKeyGenerator()


class APIKey(AbstractAPIKey):
    objects = APIKeyManager()

    # The library's 8 characters, plus "acr_" so secret scanners recognise a leaked key.
    prefix = models.CharField(max_length=16, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_keys")
    # Space-separated, as OAuth writes scopes: "read" or "read watchlists:write".
    scopes = models.CharField(max_length=100, default=Scope.READ)
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        indexes = [models.Index(fields=["user", "-created"], name="api_apikey_user_created")]

    @property
    def scope_list(self) -> list[str]:
        return self.scopes.split()

    def has_scope(self, scope: str) -> bool:
        return scope in self.scope_list


class KeyUsageDay(models.Model):
    """Requests one key made on one day (UTC), copied from the quota counters by
    ``usage.usage_record``: Redis keeps them 35 days and loses them on a flush, this keeps them."""

    # No index of its own: the unique (key, date) index starts with the key.
    key = models.ForeignKey(APIKey, on_delete=models.CASCADE, related_name="usage_days", db_index=False)
    date = models.DateField()
    requests = models.PositiveBigIntegerField(default=0)

    class Meta:
        # Its index also serves "a user's keys' days in a date range": the user's few keys
        # (api_apikey_user_created), then each key's range of dates.
        constraints = [models.UniqueConstraint(fields=["key", "date"], name="api_keyusageday_key_date")]

    def __str__(self) -> str:
        return f"{self.key_id} {self.date}: {self.requests}"
