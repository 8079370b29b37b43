"""factory-boy factories for the token models and users. ``.build()`` where no database is needed."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import factory
from django.utils import timezone

from apps.accounts.models import User
from apps.tokens.models import (
    AccrualEvent,
    AccrualMechanism,
    AccrualPolicy,
    Category,
    Chain,
    MetricSnapshot,
    PriceDay,
    RevenueDay,
    RevenueReport,
    Source,
    Token,
)

TODAY = dt.date(2026, 11, 20)
AS_OF = dt.datetime(2026, 11, 20, 0, 4, tzinfo=dt.UTC)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = "correct horse battery staple"

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return model_class.objects.create_user(*args, **kwargs)


class ChainFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Chain
        django_get_or_create = ("slug",)

    slug = factory.Sequence(lambda n: f"chain-{n}")
    name = factory.LazyAttribute(lambda o: o.slug.replace("-", " ").title())


class TokenFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Token
        skip_postgeneration_save = True

    slug = factory.Sequence(lambda n: f"token-{n}")
    symbol = factory.Sequence(lambda n: f"TK{n}")
    name = factory.Sequence(lambda n: f"Token {n}")
    category = Category.SPOT_DEX
    coingecko_id = factory.LazyAttribute(lambda o: f"cg-{o.slug}")
    defillama_slug = factory.LazyAttribute(lambda o: f"dl-{o.slug}")
    circulating_supply = Decimal("1000000000")
    total_supply = Decimal("1000000000")

    @factory.post_generation
    def chains(self, create, extracted, **kwargs):
        if create and extracted:
            self.chains.add(*extracted)


def _ratio(value: Decimal | None, flow: Decimal | None) -> Decimal | None:
    return value / flow if value and flow else None


class MetricSnapshotFactory(factory.django.DjangoModelFactory):
    """A full latest snapshot; it becomes ``token.latest_snapshot`` unless ``latest=False``."""

    class Meta:
        model = MetricSnapshot
        skip_postgeneration_save = True

    token = factory.SubFactory(TokenFactory)
    date = TODAY
    price_usd = Decimal("2.5")
    market_cap_usd = Decimal("2500000000")
    fdv_usd = Decimal("3000000000")
    volume_usd = Decimal("120000000")
    price_change_7d = Decimal("0.05")
    price_change_30d = Decimal("-0.12")
    fees_30d = Decimal("30000000")
    revenue_30d = Decimal("15000000")
    holders_revenue_30d = Decimal("9000000")
    fees_annualised = Decimal("365000000")
    revenue_annualised = Decimal("182500000")
    holders_revenue_annualised = Decimal("109500000")
    buybacks_30d = Decimal("9000000")
    pf = factory.LazyAttribute(lambda o: _ratio(o.market_cap_usd, o.fees_annualised))
    pf_fdv = Decimal("8.2")
    ps = factory.LazyAttribute(lambda o: _ratio(o.market_cap_usd, o.revenue_annualised))
    ps_fdv = Decimal("16.4")
    phr = Decimal("22.8")
    phr_fdv = Decimal("27.4")
    holder_yield = Decimal("0.0438")
    buyback_yield = Decimal("0.0438")
    revenue_growth_30d = Decimal("0.25")
    revenue_growth_90d = Decimal("0.6")
    burned_share = Decimal("0.03")
    holders_share = Decimal("0.6")
    price_source = Source.COINGECKO
    price_as_of = AS_OF
    revenue_source = Source.DEFILLAMA
    revenue_as_of = AS_OF
    computed_at = AS_OF

    @factory.post_generation
    def latest(self, create, extracted, **kwargs):
        if create and extracted is not False:
            Token.objects.filter(pk=self.token_id).update(latest_snapshot=self)
            self.token.latest_snapshot = self


class PriceDayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = PriceDay

    token = factory.SubFactory(TokenFactory)
    date = factory.Sequence(lambda n: TODAY - dt.timedelta(days=n))
    price_usd = Decimal("2.5")
    market_cap_usd = Decimal("2500000000")
    fdv_usd = Decimal("3000000000")
    volume_usd = Decimal("120000000")
    observed_at = factory.LazyAttribute(
        lambda o: dt.datetime.combine(o.date + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    )
    source = Source.COINGECKO
    fetched_at = factory.LazyFunction(timezone.now)


class RevenueDayFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RevenueDay

    token = factory.SubFactory(TokenFactory)
    date = factory.Sequence(lambda n: TODAY - dt.timedelta(days=n))
    fees_usd = Decimal("1000000")
    revenue_usd = Decimal("500000")
    holders_revenue_usd = Decimal("300000")
    source = Source.DEFILLAMA
    fetched_at = factory.LazyFunction(timezone.now)


class AccrualPolicyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccrualPolicy

    token = factory.SubFactory(TokenFactory)
    mechanism = AccrualMechanism.BUYBACK
    share_of_revenue = Decimal("0.97")
    basis = "fees"
    since = dt.date(2024, 11, 29)
    description = "Fees buy the token back through an on-chain fund."
    source_url = "https://example.com/docs/buybacks"


class AccrualEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AccrualEvent

    token = factory.SubFactory(TokenFactory)
    date = factory.Sequence(lambda n: TODAY - dt.timedelta(days=n))
    kind = AccrualEvent.Kind.BUYBACK
    usd_amount = Decimal("250000")
    token_amount = Decimal("100000")
    reference = factory.Sequence(lambda n: f"0x{n:064x}")
    source = Source.SAMPLE
    fetched_at = factory.LazyFunction(timezone.now)


class RevenueReportFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RevenueReport

    token = factory.SubFactory(TokenFactory)
    period = RevenueReport.Period.MONTH
    period_start = factory.Sequence(lambda n: TODAY - dt.timedelta(days=30 * (n + 1)))
    period_end = factory.LazyAttribute(lambda o: o.period_start + dt.timedelta(days=27))
    fees_usd = Decimal("30000000")
    revenue_usd = Decimal("15000000")
    holders_revenue_usd = Decimal("9000000")
    buybacks_usd = Decimal("9000000")
    days_covered = 28
    source = Source.COMPUTED


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """A confirmed newsletter subscription (``status="pending"`` etc. for others)."""

    class Meta:
        model = "newsletter.Subscription"

    email = factory.Sequence(lambda n: f"reader{n}@example.com")
    status = "confirmed"
    signed_up_at = factory.LazyFunction(timezone.now)
    confirmed_at = factory.LazyFunction(timezone.now)
    source = "/"
