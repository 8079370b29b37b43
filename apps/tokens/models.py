"""Tokens and their daily facts: prices, revenue, value accrual, reports, snapshots.

Money and prices are ``Decimal`` (``NUMERIC``). Every fact records the source and the
sync run that wrote it, and when it was fetched.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


def money_field(**kwargs) -> models.DecimalField:
    """USD amounts: up to 10^22 with 4 decimals."""
    return models.DecimalField(max_digits=26, decimal_places=4, null=True, blank=True, **kwargs)


def price_field(**kwargs) -> models.DecimalField:
    """Unit prices: micro-caps trade at 1e-8 USD and below."""
    return models.DecimalField(max_digits=36, decimal_places=18, null=True, blank=True, **kwargs)


def quantity_field(**kwargs) -> models.DecimalField:
    """Token amounts and supplies."""
    return models.DecimalField(max_digits=40, decimal_places=8, null=True, blank=True, **kwargs)


def ratio_field(**kwargs) -> models.DecimalField:
    """Multiples, yields, growth and shares (0.05 = 5 %)."""
    return models.DecimalField(max_digits=30, decimal_places=10, null=True, blank=True, **kwargs)


class Category(models.TextChoices):
    PERPS_DEX = "perps-dex", "Perpetuals exchange"
    SPOT_DEX = "spot-dex", "Spot exchange"
    LENDING = "lending", "Lending"
    LAUNCHPAD = "launchpad", "Launchpad"
    LAYER1 = "layer-1", "Layer 1"
    LAYER2 = "layer-2", "Layer 2"
    LIQUID_STAKING = "liquid-staking", "Liquid staking"
    DEPIN = "depin", "DePIN"
    ROBOTICS = "robotics", "Robotics"
    STABLECOIN = "stablecoin-issuer", "Stablecoin issuer"
    YIELD = "yield", "Yield"
    OTHER = "other", "Other"


class Source(models.TextChoices):
    SAMPLE = "sample", "Sample data"
    COINGECKO = "coingecko", "CoinGecko"
    DEFILLAMA = "defillama", "DefiLlama"
    HYPERLIQUID = "hyperliquid", "Hyperliquid"
    EDITOR = "editor", "Editor"
    COMPUTED = "computed", "Computed by Accrual"


class Chain(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Listing(models.TextChoices):
    ACTIVE = "active", "Listed"
    DELISTED = "delisted", "Delisted"


class EditorChoice(models.TextChoices):
    AUTOMATIC = "auto", "Automatic"
    INCLUDE = "include", "Always track"
    EXCLUDE = "exclude", "Never track"


class TokenQuerySet(models.QuerySet):
    def tracked(self) -> TokenQuerySet:
        """The tokens refreshes fetch: an editor's choice wins; otherwise those still listed."""
        return self.exclude(editor_choice=EditorChoice.EXCLUDE).filter(
            Q(editor_choice=EditorChoice.INCLUDE) | Q(listing=Listing.ACTIVE)
        )

    def quotable(self) -> TokenQuerySet:
        """The tracked tokens CoinGecko can quote: those with a CoinGecko id."""
        return self.tracked().exclude(coingecko_id=None)

    def for_rows(self) -> TokenQuerySet:
        """Tokens as a list's rows show them: the latest snapshot and chains joined, without
        the refresh's bookkeeping and the description, which no row shows (their timestamps
        were a tenth of a screener page's decoding)."""
        return (
            self.select_related("latest_snapshot")
            .prefetch_related("chains")
            .defer(*ROW_DEFERRED, *(f"latest_snapshot__{name}" for name in ("computed_at", "revenue_as_of")))
        )


ROW_DEFERRED = [
    "description",
    "created_at",
    "updated_at",
    "quoted_at",
    "delisted_at",
    "price_history_at",
    "revenue_history_at",
    "price_history_failed_at",
    "revenue_history_failed_at",
]

# The fields of a token that every market quote restates (a refresh updates them).
SUPPLY_FIELDS = ["circulating_supply", "total_supply", "max_supply", "image_url"]
# What a market refresh writes to each token it quoted: those, and when it was quoted.
QUOTED_FIELDS = [*SUPPLY_FIELDS, "quoted_at"]


class Token(models.Model):
    slug = models.SlugField(max_length=100, unique=True)
    symbol = models.CharField(max_length=32, db_index=True)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER, db_index=True)
    chains = models.ManyToManyField(Chain, blank=True, related_name="tokens")
    coingecko_id = models.CharField(max_length=200, unique=True, null=True, blank=True)
    defillama_slug = models.CharField(max_length=200, unique=True, null=True, blank=True)
    website = models.URLField(blank=True)
    description = models.TextField(blank=True)
    image_url = models.URLField(blank=True)
    circulating_supply = quantity_field()
    total_supply = quantity_field()
    max_supply = quantity_field()
    # The universe (apps/tokens/universe.py): discovery marks a token active or delisted; an
    # editor's choice (always or never track) wins over both.
    listing = models.CharField(max_length=16, choices=Listing.choices, default=Listing.ACTIVE)
    delisted_at = models.DateTimeField(null=True, blank=True)
    editor_choice = models.CharField(
        max_length=16,
        choices=EditorChoice.choices,
        default=EditorChoice.AUTOMATIC,
        help_text="Always track keeps a token its providers no longer list; never track drops it from every refresh.",
    )
    market_cap_rank = models.PositiveIntegerField(null=True, blank=True, help_text="CoinGecko's rank at discovery")
    # Refresh bookkeeping (apps/tokens/budget.py, refresh.py, history.py): when each kind of data was
    # last fetched for the token, so a job resumes where it stopped and none is starved.
    quoted_at = models.DateTimeField(null=True, blank=True)
    price_history_at = models.DateTimeField(
        null=True, blank=True, help_text="Last price-history fetch; empty until its year is backfilled"
    )
    revenue_history_at = models.DateTimeField(
        null=True, blank=True, help_text="Last revenue-history fetch; empty until backfilled"
    )
    # When the last history fetch failed (cleared by the next that succeeds): the token then
    # goes behind the others in the next run's order, so one that always fails starves none.
    price_history_failed_at = models.DateTimeField(null=True, blank=True, editable=False)
    revenue_history_failed_at = models.DateTimeField(null=True, blank=True, editable=False)
    mapping_locked = models.BooleanField(
        default=False,
        help_text="Set when an editor fixes the CoinGecko id or DefiLlama slug: automatic mapping then leaves them.",
    )
    category_locked = models.BooleanField(
        default=False,
        help_text="Set when an editor picks the category: the provider's category mapping then leaves it.",
    )
    # The newest snapshot, kept here so any list reads every figure in one join. It moves for
    # every token on each day's first market refresh, so it has no index: with free space on
    # the table's pages (fillfactor, migration 0004) PostgreSQL then rewrites the row in
    # place (a HOT update) instead of adding an entry to each of the table's indexes.
    # Nor a database constraint: it is a cache the snapshot code maintains, and the check
    # would cost a lookup per token at every commit that moves it; deleting a snapshot still
    # clears it (Django's SET_NULL), and lists read it with a LEFT JOIN.
    latest_snapshot = models.ForeignKey(
        "MetricSnapshot",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
        db_constraint=False,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TokenQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.symbol})"

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("tokens:detail", kwargs={"slug": self.slug})

    @property
    def chain_names(self) -> str:
        """The chains' names in one string, for a list's row: "Base, Ethereum"."""
        return ", ".join(chain.name for chain in self.chains.all())


class DefiLlamaProtocol(models.Model):
    """A protocol from DefiLlama's /protocols, kept to map tokens and list the unmapped."""

    slug = models.CharField(max_length=200, unique=True)
    name = models.CharField(max_length=200)
    symbol = models.CharField(max_length=64, blank=True)
    gecko_id = models.CharField(max_length=200, null=True, blank=True, db_index=True)
    category = models.CharField(max_length=100, blank=True)
    seen_at = models.DateTimeField()

    class Meta:
        ordering = ["name"]
        verbose_name = "DefiLlama protocol"

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class CategoryMapping(models.Model):
    """A provider's category name and the Accrual category it maps to. Discovery records every
    name it meets; one nobody has mapped yet maps to Other and is listed for editors."""

    provider = models.CharField(max_length=32, choices=Source.choices)
    name = models.CharField(max_length=200)
    category = models.CharField(max_length=32, choices=Category.choices, default=Category.OTHER)
    mapped_by_editor = models.BooleanField(default=False)
    first_seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["provider", "name"]
        constraints = [models.UniqueConstraint(fields=["provider", "name"], name="category_mapping_unique")]

    def __str__(self) -> str:
        return f"{self.get_provider_display()}: {self.name} → {self.get_category_display()}"


class SyncRun(models.Model):
    """One fetch from a provider (or a replay of the sample data): provenance of facts."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    provider = models.CharField(max_length=32, choices=Source.choices)
    kind = models.CharField(max_length=32)  # markets, price-history, revenue, revenue-history, …
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_written = models.PositiveIntegerField(default=0)
    pages = models.PositiveIntegerField(default=0)
    retries = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # A run that stopped on its call budget or deadline succeeded with work left: the next
    # run continues with these tokens (each one written so far is complete).
    remaining = models.PositiveIntegerField(default=0, help_text="Tokens left for the next run")

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["provider", "kind", "-started_at"])]

    def __str__(self) -> str:
        return f"{self.provider}/{self.kind} {self.started_at:%Y-%m-%d %H:%M} {self.status}"


class DataSet(models.Model):
    """Which data set this database holds — the bundled sample (generated figures) or live
    providers' data — so pages can say so and the two never mix. One row at most, written by
    the first sample load or the first live refresh that writes; none in an empty database."""

    class Mode(models.TextChoices):
        SAMPLE = "sample", "Sample data"
        LIVE = "live", "Live data"

    id = models.PositiveSmallIntegerField(primary_key=True, default=1, editable=False)
    mode = models.CharField(max_length=8, choices=Mode.choices)
    recorded_at = models.DateTimeField()

    class Meta:
        constraints = [models.CheckConstraint(condition=Q(id=1), name="data_set_one_row")]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} since {self.recorded_at:%Y-%m-%d %H:%M}"


class FactProvenance(models.Model):
    source = models.CharField(max_length=32, choices=Source.choices)
    # Provenance, not identity: no database constraint, which would check every fact row
    # written (20,000 a market refresh) at commit. Deleting a run still clears its links
    # (Django's SET_NULL). No B-tree either: every row of a refresh has the same run, and
    # that index cost a third of inserting them; on PostgreSQL the facts tables get a BRIN
    # index instead (migration 0007: runs and rows both arrive in time order).
    sync_run = models.ForeignKey(
        SyncRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_constraint=False,
        db_index=False,
    )
    fetched_at = models.DateTimeField()

    class Meta:
        abstract = True


class PriceDay(FactProvenance):
    """Close-of-day market data (00:00 UTC point of the next day, as CoinGecko reports it)."""

    # Indexed by the (token, date) unique constraint, which leads with it.
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="price_days", db_index=False)
    date = models.DateField()
    price_usd = price_field()
    market_cap_usd = money_field()
    fdv_usd = money_field()
    volume_usd = money_field()
    # When the price was observed: 00:00 UTC for daily points, the quote's time for today.
    observed_at = models.DateTimeField()

    class Meta:
        ordering = ["token", "date"]
        constraints = [models.UniqueConstraint(fields=["token", "date"], name="price_day_unique")]
        indexes = [models.Index(fields=["date"])]  # a day across the universe (repricing)

    def __str__(self) -> str:
        return f"{self.token_id} {self.date} {self.price_usd}"


class RevenueDay(FactProvenance):
    """Fees, revenue and holders revenue for one UTC day (DefiLlama's definitions)."""

    # Indexed by the (token, date) unique constraint, which leads with it.
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="revenue_days", db_index=False)
    date = models.DateField()
    fees_usd = money_field()
    revenue_usd = money_field()
    holders_revenue_usd = money_field()

    class Meta:
        ordering = ["token", "date"]
        constraints = [models.UniqueConstraint(fields=["token", "date"], name="revenue_day_unique")]
        indexes = [models.Index(fields=["date"])]  # a day across the universe (repricing)

    def __str__(self) -> str:
        return f"{self.token_id} {self.date} fees={self.fees_usd} revenue={self.revenue_usd}"


class AccrualMechanism(models.TextChoices):
    BUYBACK = "buyback", "Buyback"
    BURN = "burn", "Burn"
    BUYBACK_AND_BURN = "buyback-burn", "Buyback and burn"
    REVENUE_SHARE = "revenue-share", "Revenue share"
    STAKING_PAYOUT = "staking-payout", "Staking payout"


class AccrualPolicy(models.Model):
    """How a protocol hands revenue to holders, from a date (a change is a new row)."""

    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="accrual_policies")
    mechanism = models.CharField(max_length=32, choices=AccrualMechanism.choices)
    share_of_revenue = ratio_field(help_text="Fraction of fees or revenue directed to holders, 0–1")
    basis = models.CharField(max_length=16, choices=[("fees", "Fees"), ("revenue", "Revenue")], default="revenue")
    since = models.DateField(null=True, blank=True)
    until = models.DateField(null=True, blank=True)
    description = models.TextField(blank=True)
    source_url = models.URLField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["token", "-since"]
        verbose_name_plural = "accrual policies"
        constraints = [
            models.UniqueConstraint(fields=["token", "mechanism", "since"], name="accrual_policy_unique"),
            models.CheckConstraint(
                condition=Q(share_of_revenue__isnull=True) | Q(share_of_revenue__gte=0, share_of_revenue__lte=1),
                name="accrual_policy_share_0_1",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.token} {self.get_mechanism_display()} since {self.since}"


class AccrualEvent(FactProvenance):
    """A dated buyback, burn or distribution.

    A buyback and a burn differ in where the tokens come from: a buyback (held, or burned:
    "buyback-burn") spends money on tokens bought from the market, so it counts in buyback
    yield; a plain burn destroys tokens that were not bought (fee burns, treasury burns),
    so it counts only in the burned share. A buy-and-burn counts in both."""

    class Kind(models.TextChoices):
        BUYBACK = "buyback", "Buyback"
        BUYBACK_BURN = "buyback-burn", "Buy and burn"
        BURN = "burn", "Burn"
        DISTRIBUTION = "distribution", "Distribution"

    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="accrual_events")
    date = models.DateField()
    kind = models.CharField(
        max_length=16,
        choices=Kind.choices,
        help_text=(
            "Buyback: bought from the market and held. Buy and burn: bought from the market and burned. "
            "Burn: burned without being bought (a fee or treasury burn). Buybacks and buy-and-burns count "
            "in buyback yield; burns and buy-and-burns in the burned share."
        ),
    )
    usd_amount = money_field()
    token_amount = quantity_field()
    reference = models.CharField(max_length=300, blank=True, default="", help_text="Transaction hash or URL")
    note = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["token", "-date"]
        constraints = [
            models.UniqueConstraint(fields=["token", "date", "kind", "reference"], name="accrual_event_unique")
        ]

    def __str__(self) -> str:
        return f"{self.token} {self.kind} {self.date}"


# Events whose USD amount bought tokens from the market (buybacks, buyback yield, reports)
# and events whose token amount left the supply (burned share).
BOUGHT_KINDS = (AccrualEvent.Kind.BUYBACK.value, AccrualEvent.Kind.BUYBACK_BURN.value)
BURNED_KINDS = (AccrualEvent.Kind.BURN.value, AccrualEvent.Kind.BUYBACK_BURN.value)


class RevenueReport(models.Model):
    """A period statement: built from daily facts, or entered by an editor with a source."""

    class Period(models.TextChoices):
        MONTH = "month", "Month"
        QUARTER = "quarter", "Quarter"
        YEAR = "year", "Year"
        ARR = "arr", "Annual recurring revenue"

    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="revenue_reports")
    period = models.CharField(max_length=16, choices=Period.choices)
    period_start = models.DateField()
    period_end = models.DateField()
    fees_usd = money_field()
    revenue_usd = money_field()
    holders_revenue_usd = money_field()
    buybacks_usd = money_field()
    days_covered = models.PositiveSmallIntegerField(null=True, blank=True)
    source = models.CharField(max_length=32, choices=Source.choices, default=Source.COMPUTED)
    source_url = models.URLField(blank=True)
    note = models.TextField(blank=True)
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["token", "-period_start"]
        constraints = [
            models.UniqueConstraint(fields=["token", "period", "period_start", "source"], name="revenue_report_unique"),
            models.CheckConstraint(condition=Q(period_end__gte=models.F("period_start")), name="revenue_report_dates"),
        ]

    def __str__(self) -> str:
        return f"{self.token} {self.period} {self.period_start}"


class MetricSnapshot(models.Model):
    """Every derived figure for one token on one day, computed once so pages never compute."""

    # Indexed by the (token, date) unique constraint, which leads with it.
    token = models.ForeignKey(Token, on_delete=models.CASCADE, related_name="snapshots", db_index=False)
    date = models.DateField()
    price_usd = price_field()
    market_cap_usd = money_field()
    fdv_usd = money_field()
    volume_usd = money_field()
    price_change_7d = ratio_field()
    price_change_30d = ratio_field()
    fees_30d = money_field()
    revenue_30d = money_field()
    holders_revenue_30d = money_field()
    fees_annualised = money_field()
    revenue_annualised = money_field()
    holders_revenue_annualised = money_field()
    buybacks_30d = money_field()
    pf = ratio_field()
    pf_fdv = ratio_field()
    ps = ratio_field()
    ps_fdv = ratio_field()
    phr = ratio_field()
    phr_fdv = ratio_field()
    holder_yield = ratio_field()
    buyback_yield = ratio_field()
    revenue_growth_30d = ratio_field()
    revenue_growth_90d = ratio_field()
    burned_share = ratio_field()
    holders_share = ratio_field()
    price_source = models.CharField(max_length=32, choices=Source.choices, blank=True)
    price_as_of = models.DateTimeField(null=True, blank=True)
    revenue_source = models.CharField(max_length=32, choices=Source.choices, blank=True)
    revenue_as_of = models.DateTimeField(null=True, blank=True)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["token", "date"]
        constraints = [models.UniqueConstraint(fields=["token", "date"], name="snapshot_unique")]
        indexes = [models.Index(fields=["date"])]

    def __str__(self) -> str:
        return f"{self.token_id} {self.date}"
