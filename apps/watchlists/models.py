"""Readers' watchlists: named lists of tokens, one of them the default the star adds to.

An item keeps the price and grades its token had when added, so a list shows what changed
since.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.urls import reverse

from apps.ratings.models import Grade
from apps.tokens.models import Token, price_field

NAME_MAX_LENGTH = 80


class Watchlist(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="watchlists")
    name = models.CharField(max_length=NAME_MAX_LENGTH)
    is_default = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-is_default", "name", "pk"]
        constraints = [
            models.UniqueConstraint("user", Lower("name"), name="watchlist_name_unique_per_user"),
            models.UniqueConstraint(fields=["user"], condition=Q(is_default=True), name="watchlist_one_default"),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("watchlists:detail", kwargs={"pk": self.pk})


class WatchlistItem(models.Model):
    # Indexed by the (watchlist, token) unique constraint, which leads with it.
    watchlist = models.ForeignKey(Watchlist, on_delete=models.CASCADE, related_name="items", db_index=False)
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="watchlist_items")
    added_at = models.DateTimeField(auto_now_add=True)
    price_at_add = price_field()
    investor_grade_at_add = models.CharField(max_length=1, choices=Grade.choices, blank=True)
    trader_grade_at_add = models.CharField(max_length=1, choices=Grade.choices, blank=True)

    class Meta:
        ordering = ["watchlist", "added_at", "pk"]
        constraints = [models.UniqueConstraint(fields=["watchlist", "token"], name="watchlist_item_unique")]

    def __str__(self) -> str:
        return f"{self.watchlist_id}: {self.token_id}"
