"""The token shapes, and those several resources share. Numbers are strings (exact decimals);
every figure sits in a group that says its as-of time, source and staleness. Descriptions are the site's own."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apps.tokens.models import (
    AccrualEvent,
    AccrualPolicy,
    Chain,
    MetricSnapshot,
    PriceDay,
    RevenueDay,
    RevenueReport,
    Source,
    Token,
)
from apps.tokens.selectors import is_stale
from apps.tokens.token_page import VALUATION_METRICS

# DefiLlama's definitions, as PROVIDERS.md states them and the site uses them.
FEES = "Fees: everything users pay to use the protocol"
REVENUE = (
    "Revenue: the part of fees the protocol keeps (treasury, team or holders), not what goes to liquidity providers"
)
HOLDERS_REVENUE = (
    "Holders revenue: the part of revenue that reaches token holders (buyback and burn, fee burns, payouts to stakers)"
)
ANNUALISED = "annualised as the last 30 days × 365/30, USD"
FIGURE_HELP: dict[str, str] = {
    "price_usd": "Price in USD.",
    "market_cap_usd": "Market capitalisation in USD: price × circulating supply.",
    "fdv_usd": "Fully diluted value in USD: price × maximum (or total) supply.",
    "volume_usd": "Trading volume over the last 24 hours in USD.",
    "price_change_7d": "Price change over 7 days (0.05 = +5 %).",
    "price_change_30d": "Price change over 30 days (0.05 = +5 %).",
    "fees_30d": f"{FEES}; over the last 30 days, USD.",
    "revenue_30d": f"{REVENUE}; over the last 30 days, USD.",
    "holders_revenue_30d": f"{HOLDERS_REVENUE}; over the last 30 days, USD.",
    "fees_annualised": f"{FEES}; {ANNUALISED}.",
    "revenue_annualised": f"{REVENUE}; {ANNUALISED}.",
    "holders_revenue_annualised": f"{HOLDERS_REVENUE}; {ANNUALISED}.",
    "buybacks_30d": "Tokens bought from the market in the last 30 days (held or burned), USD.",
    **{name: f"{label}: {hint}." for name, label, hint, _ in VALUATION_METRICS},
}
PRICE_FIGURES = ("price_usd", "market_cap_usd", "fdv_usd", "volume_usd", "price_change_7d", "price_change_30d")
REVENUE_FIGURES = (
    "fees_30d",
    "revenue_30d",
    "holders_revenue_30d",
    "fees_annualised",
    "revenue_annualised",
    "holders_revenue_annualised",
    "buybacks_30d",
    "revenue_growth_30d",
    "revenue_growth_90d",
    "holders_share",
)
VALUATION_FIGURES = ("pf", "pf_fdv", "ps", "ps_fdv", "phr", "phr_fdv", "holder_yield", "buyback_yield", "burned_share")

SOURCE_HELP = "Where the figures come from: " + ", ".join(f"{value} ({label})" for value, label in Source.choices)
STALE_HELP = "True when the figures are older than the freshness threshold; sample data is never stale."


def _figures(kind: str, names: tuple[str, ...], as_of_field: str, source_field: str):
    class Figures(serializers.ModelSerializer):
        as_of = serializers.DateTimeField(
            source=as_of_field, read_only=True, help_text=f"When the {kind} figures were observed."
        )
        source = serializers.CharField(source=source_field, read_only=True, help_text=SOURCE_HELP)
        stale = serializers.SerializerMethodField(help_text=STALE_HELP)

        class Meta:
            model = MetricSnapshot
            fields = ("as_of", "source", "stale", *names)
            extra_kwargs = {name: {"help_text": FIGURE_HELP[name]} for name in names}

        @extend_schema_field(OpenApiTypes.BOOL)
        def get_stale(self, snapshot: MetricSnapshot) -> bool:
            return is_stale(getattr(snapshot, as_of_field), kind=kind, source=getattr(snapshot, source_field))

    Figures.__name__ = f"{kind.title()}Figures"
    return Figures


PriceFigures = _figures("price", PRICE_FIGURES, "price_as_of", "price_source")
RevenueFigures = _figures("revenue", REVENUE_FIGURES, "revenue_as_of", "revenue_source")


class ValuationFigures(serializers.ModelSerializer):
    """Multiples and yields rest on both the price and the revenue figures: as old as the older."""

    as_of = serializers.SerializerMethodField(help_text="The older of the price and revenue figures' times.")
    source = serializers.SerializerMethodField(
        help_text="Always computed: Accrual derives these from prices and revenue."
    )
    stale = serializers.SerializerMethodField(help_text=STALE_HELP)

    class Meta:
        model = MetricSnapshot
        fields = ("as_of", "source", "stale", *VALUATION_FIGURES)
        extra_kwargs = {name: {"help_text": FIGURE_HELP[name]} for name in VALUATION_FIGURES}

    @extend_schema_field(OpenApiTypes.DATETIME)
    def get_as_of(self, snapshot: MetricSnapshot):
        times = [t for t in (snapshot.price_as_of, snapshot.revenue_as_of) if t]
        return serializers.DateTimeField().to_representation(min(times)) if times else None

    @extend_schema_field(OpenApiTypes.STR)
    def get_source(self, snapshot: MetricSnapshot) -> str:
        sample = Source.SAMPLE in (snapshot.price_source, snapshot.revenue_source)
        return Source.SAMPLE.value if sample else Source.COMPUTED.value

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_stale(self, snapshot: MetricSnapshot) -> bool:
        return is_stale(snapshot.price_as_of, kind="price", source=snapshot.price_source) or is_stale(
            snapshot.revenue_as_of, kind="revenue", source=snapshot.revenue_source
        )


class SnapshotSerializer(serializers.ModelSerializer):
    date = serializers.DateField(read_only=True, help_text="The day the figures are for (UTC).")
    price = PriceFigures(source="*", read_only=True, help_text="Market figures.")
    revenue = RevenueFigures(source="*", read_only=True, help_text="Fees, revenue and value accrual over windows.")
    valuation = ValuationFigures(source="*", read_only=True, help_text="Valuation multiples and yields.")

    class Meta:
        model = MetricSnapshot
        fields = ("date", "price", "revenue", "valuation")


class ChainSerializer(serializers.ModelSerializer):
    class Meta:
        model = Chain
        fields = ("slug", "name")
        extra_kwargs = {"slug": {"help_text": "The chain's stable id."}, "name": {"help_text": "The chain's name."}}


TOKEN_HELP = {
    "slug": "The token's stable id in this API (URLs use it).",
    "symbol": "Ticker symbol.",
    "name": "Name.",
    "category": "Accrual's category for the protocol.",
    "coingecko_id": "CoinGecko's id for the token, when mapped.",
    "defillama_slug": "DefiLlama's slug for the protocol, when mapped.",
    "website": "The project's website.",
    "description": "What the protocol does.",
    "circulating_supply": "Tokens in circulation.",
    "total_supply": "Tokens that exist (minted minus burned).",
    "max_supply": "The most tokens that can ever exist, when capped.",
}


class TokenSerializer(serializers.ModelSerializer):
    chains = ChainSerializer(many=True, read_only=True, help_text="Chains the token lives on.")
    snapshot = SnapshotSerializer(
        source="api_snapshot", read_only=True, allow_null=True, help_text="The figures (null: none yet)."
    )

    class Meta:
        model = Token
        fields = ("slug", "symbol", "name", "category", "chains", "coingecko_id", "defillama_slug", "snapshot")
        extra_kwargs = {name: {"help_text": text} for name, text in TOKEN_HELP.items()}


class AccrualPolicySerializer(serializers.ModelSerializer):
    class Meta:
        model = AccrualPolicy
        fields = ("mechanism", "share_of_revenue", "basis", "since", "until", "description", "source_url")
        extra_kwargs = {
            "mechanism": {"help_text": "How revenue reaches holders: buyback, burn, revenue share, staking payout."},
            "basis": {"help_text": "Whether the share is of fees or of revenue."},
            "since": {"help_text": "First day the policy applies (null: always)."},
            "until": {"help_text": "Last day the policy applies (null: still in force)."},
            "description": {"help_text": "The policy in words."},
            "source_url": {"help_text": "Where the policy is stated."},
        }


class TokenDetailSerializer(TokenSerializer):
    accrual_policies = AccrualPolicySerializer(
        many=True, read_only=True, help_text="How the protocol hands revenue to holders, newest first."
    )

    class Meta(TokenSerializer.Meta):
        fields = (
            *TokenSerializer.Meta.fields[:-1],
            "website",
            "description",
            "circulating_supply",
            "total_supply",
            "max_supply",
            "accrual_policies",
            "snapshot",
        )


class PriceDaySerializer(serializers.ModelSerializer):
    as_of = serializers.DateTimeField(source="observed_at", read_only=True, help_text="When the price was observed.")

    class Meta:
        model = PriceDay
        fields = ("date", "price_usd", "market_cap_usd", "fdv_usd", "volume_usd", "as_of", "source")
        extra_kwargs = {
            "date": {"help_text": "The UTC day (close: 00:00 UTC of the next day)."},
            "source": {"help_text": SOURCE_HELP},
            **{
                name: {"help_text": FIGURE_HELP[name]}
                for name in ("price_usd", "market_cap_usd", "fdv_usd", "volume_usd")
            },
        }


class RevenueDaySerializer(serializers.ModelSerializer):
    as_of = serializers.DateTimeField(source="fetched_at", read_only=True, help_text="When the figures were fetched.")

    class Meta:
        model = RevenueDay
        fields = ("date", "fees_usd", "revenue_usd", "holders_revenue_usd", "as_of", "source")
        extra_kwargs = {
            "date": {"help_text": "The UTC day."},
            "fees_usd": {"help_text": f"{FEES}; that day, USD."},
            "revenue_usd": {"help_text": f"{REVENUE}; that day, USD."},
            "holders_revenue_usd": {"help_text": f"{HOLDERS_REVENUE}; that day, USD."},
            "source": {"help_text": SOURCE_HELP},
        }


class RevenueReportSerializer(serializers.ModelSerializer):
    as_of = serializers.DateTimeField(
        source="updated_at", read_only=True, help_text="When the report was last written."
    )

    class Meta:
        model = RevenueReport
        fields = (
            "period",
            "period_start",
            "period_end",
            "fees_usd",
            "revenue_usd",
            "holders_revenue_usd",
            "buybacks_usd",
            "days_covered",
            "as_of",
            "source",
            "source_url",
            "note",
        )
        extra_kwargs = {
            "period": {"help_text": "month, quarter, year or arr (annual recurring revenue)."},
            "period_start": {"help_text": "First day of the period."},
            "period_end": {"help_text": "Last day of the period."},
            "fees_usd": {"help_text": "Fees over the period, USD."},
            "revenue_usd": {"help_text": "Revenue over the period, USD."},
            "holders_revenue_usd": {"help_text": "Holders revenue over the period, USD."},
            "buybacks_usd": {"help_text": "Tokens bought from the market over the period, USD."},
            "days_covered": {"help_text": "Days of the period with data (computed reports)."},
            "source": {"help_text": SOURCE_HELP + "; computed reports are built from daily facts."},
            "source_url": {"help_text": "Where an entered report's figures are published."},
            "note": {"help_text": "An editor's note."},
        }


class AccrualEventSerializer(serializers.ModelSerializer):
    as_of = serializers.DateTimeField(source="fetched_at", read_only=True, help_text="When the event was recorded.")

    class Meta:
        model = AccrualEvent
        fields = ("date", "kind", "usd_amount", "token_amount", "reference", "note", "as_of", "source")
        extra_kwargs = {
            "date": {"help_text": "The day of the event."},
            "usd_amount": {"help_text": "USD spent or distributed."},
            "token_amount": {"help_text": "Tokens bought, burned or distributed."},
            "note": {"help_text": "A note on the event."},
            "source": {"help_text": SOURCE_HELP},
        }


class TokenRefSerializer(serializers.ModelSerializer):
    class Meta:
        model = Token
        fields = ("slug", "symbol", "name", "category")
        extra_kwargs = {name: {"help_text": TOKEN_HELP[name]} for name in fields}
