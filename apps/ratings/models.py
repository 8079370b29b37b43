"""Ratings: one per token per day per methodology version, with the inputs and component
scores behind it, and the events (band changes, signal flips, large moves) between days."""

from __future__ import annotations

from django.db import models

from apps.tokens.models import Token


class RowJSONField(models.JSONField):
    """A JSONField that Django's bulk insert binds row by row (a placeholder per value),
    not through PostgreSQL's UNNEST of arrays: escaping JSON into a text array literal
    costs more than the rest of a day's recompute of 20,000 ratings."""

    def get_placeholder(self, value, compiler, connection) -> str:
        return "%s"


def score_field(**kwargs) -> models.DecimalField:
    """A score of 0–100 to one decimal."""
    return models.DecimalField(max_digits=4, decimal_places=1, null=True, blank=True, **kwargs)


class Grade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"
    E = "E", "E"
    NOT_RATED = "", "Not rated"


class Signal(models.TextChoices):
    BULLISH = "bullish", "Bullish"
    NEUTRAL = "neutral", "Neutral"
    BEARISH = "bearish", "Bearish"
    NONE = "", "No signal"


PART_FIELDS = ("universe", "category", "score", "universe_size", "category_size")


class Rating(models.Model):
    """A token's rating on one day.

    ``inputs``: every raw input by key, decimals as strings (None: missing).
    ``components``: ``{component: {"score": 62.5, "parts": {sub-metric: [universe
    percentile, category percentile (None: too few peers), score, tokens ranked in the
    universe, in the category] or None}}}`` — lists in the order of ``PART_FIELDS``, to keep
    a day of 20,000 ratings small. The component columns repeat the component scores so
    lists can sort and filter on them."""

    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="ratings")
    date = models.DateField()
    methodology_version = models.CharField(max_length=16)
    inputs = RowJSONField(default=dict)
    components = RowJSONField(default=dict)
    revenue_score = score_field()
    value_accrual_score = score_field()
    valuation_score = score_field()
    momentum_score = score_field()
    risk_score = score_field()
    investor_score = score_field()
    investor_grade = models.CharField(max_length=1, choices=Grade.choices, blank=True)
    investor_reason = models.CharField(max_length=200, blank=True)
    trader_score = score_field()
    trader_grade = models.CharField(max_length=1, choices=Grade.choices, blank=True)
    trader_reason = models.CharField(max_length=200, blank=True)
    signal = models.CharField(max_length=8, choices=Signal.choices, blank=True)
    # A digest of everything computed: a recompute writes only the rows whose digest changed.
    fingerprint = models.CharField(max_length=40)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["token", "date"]
        constraints = [
            models.UniqueConstraint(fields=["token", "date", "methodology_version"], name="rating_unique"),
        ]
        indexes = [
            models.Index(fields=["methodology_version", "date"], name="rating_version_date"),
            # The pages' "computed at": the newest computed latest rating, found without
            # reading every rating of the day.
            models.Index(fields=["methodology_version", "computed_at"], name="rating_version_computed"),
        ]

    def __str__(self) -> str:
        return f"{self.token_id} {self.date} v{self.methodology_version}"

    @property
    def investor_rated(self) -> bool:
        return bool(self.investor_grade)


class LatestRating(models.Model):
    """Each token's newest rating (per methodology version): lists join ratings through
    these, one row a token, in one query. A small table rather than a flag on the wide
    rating rows, because the pointer moves every day for every token."""

    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="+")
    methodology_version = models.CharField(max_length=16)
    rating = models.OneToOneField(Rating, on_delete=models.CASCADE, related_name="latest")
    date = models.DateField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["token", "methodology_version"], name="latest_rating_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.token_id} v{self.methodology_version} → {self.date}"


class RatingChange(models.Model):
    """Something worth telling a reader: a band change, a signal flip, a large score move
    from one day to the next. Kept for alerts and briefings."""

    class Kind(models.TextChoices):
        BAND_CHANGE = "band_change", "Band change"
        SIGNAL_FLIP = "signal_flip", "Signal flip"
        SCORE_MOVE = "score_move", "Score move"

    class Subject(models.TextChoices):
        INVESTOR = "investor", "Investor grade"
        TRADER = "trader", "Trader grade"
        SIGNAL = "signal", "Signal"

    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="rating_changes")
    date = models.DateField()
    methodology_version = models.CharField(max_length=16)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    subject = models.CharField(max_length=16, choices=Subject.choices)
    before = models.CharField(max_length=16, blank=True)
    after = models.CharField(max_length=16, blank=True)
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-date", "token", "kind", "subject"]
        constraints = [
            models.UniqueConstraint(
                fields=["token", "date", "methodology_version", "kind", "subject"], name="rating_change_unique"
            )
        ]
        indexes = [models.Index(fields=["date", "kind"], name="rating_change_date_kind")]

    def __str__(self) -> str:
        return f"{self.token_id} {self.date} {self.kind} {self.subject}: {self.before} → {self.after}"


class UniverseDay(models.Model):
    """The rated universe's day, stored so pages read a row a day instead of every price:
    the sum of the daily returns of the tokens in the universe that day, and how many tokens
    are in it at the day's close (they count from the next day). The universe's return on a
    day is its ``moves_sum`` over the day before's ``members``. Written only by
    ``universe_days.universe_days_update``; every day from the first with a member."""

    # Emptied with the data set (``apps.tokens.data_set``), though it points at no token.
    holds_data_set = True

    date = models.DateField(unique=True)
    moves_sum = models.FloatField()  # computed by the database in floating point
    members = models.PositiveIntegerField()
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["date"]

    def __str__(self) -> str:
        return f"{self.date}: {self.members} members"
