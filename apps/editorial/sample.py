"""The sample data set's Top 10 lists: a few published lists with dated revisions (one
dropping tokens, one archived) and a draft, made from the sample's tokens and marked sample.
Idempotent: a list already there is left as it is."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction

from apps.tokens.models import Token

from . import services
from .models import ListEntry, TopList


@dataclass(frozen=True)
class SampleRevision:
    day: dt.date
    slugs: tuple[str, ...]
    note: str


@dataclass(frozen=True)
class SampleList:
    slug: str
    title: str
    summary: str
    criteria: str
    revisions: tuple[SampleRevision, ...]  # empty: a draft with the first revision's tokens
    draft_slugs: tuple[str, ...] = ()
    archived_on: dt.date | None = None
    sponsored_entry: tuple[str, str] | None = None  # (token slug, sponsor)


SAMPLE_NOTE = "Sample list, made from the bundled sample data set."
SAMPLE_LISTS = (
    SampleList(
        slug="sample-top-10-revenue-sharers",
        title="Top 10 revenue sharers (sample)",
        summary="Protocols that hand the most of what they earn to token holders, by holder yield.",
        criteria="Annualised holders revenue over $10m; buybacks, burns or staking payouts for at least six months; "
        "ranked by holder yield.",
        revisions=(
            SampleRevision(
                dt.date(2026, 5, 4),
                (
                    "hyperliquid",
                    "aave",
                    "jupiter",
                    "raydium",
                    "pump-fun",
                    "gmx",
                    "aerodrome",
                    "pendle",
                    "sky",
                    "ether-fi",
                ),
                SAMPLE_NOTE,
            ),
            SampleRevision(
                dt.date(2026, 8, 3),
                (
                    "hyperliquid",
                    "aave",
                    "jupiter",
                    "pump-fun",
                    "raydium",
                    "aerodrome",
                    "gmx",
                    "pendle",
                    "sky",
                    "uniswap",
                ),
                "Uniswap switched its fee on: it joins; ether.fi's holders revenue fell under the bar: it leaves.",
            ),
            SampleRevision(
                dt.date(2026, 10, 5),
                (
                    "hyperliquid",
                    "aave",
                    "pump-fun",
                    "jupiter",
                    "aster",
                    "raydium",
                    "aerodrome",
                    "pendle",
                    "sky",
                    "uniswap",
                ),
                "Aster's buybacks passed six months: it joins; GMX's yield slipped below the others: it leaves.",
            ),
        ),
    ),
    SampleList(
        slug="sample-perpetuals-exchanges",
        title="Top perpetuals exchanges (sample)",
        summary="Perpetual futures venues whose tokens earn from the trading they host.",
        criteria="A perpetuals exchange with 30-day fees over $5m and a token that receives part of them.",
        revisions=(
            SampleRevision(
                dt.date(2026, 6, 1), ("hyperliquid", "aster", "dydx", "gmx", "drift", "gains-network"), SAMPLE_NOTE
            ),
            SampleRevision(
                dt.date(2026, 9, 7),
                ("hyperliquid", "aster", "gmx", "gains-network", "drift"),
                "dYdX's fees fell under the bar for a second month: it leaves.",
            ),
        ),
        sponsored_entry=("gains-network", "Example Sponsor Ltd (fictional, sample)"),
    ),
    SampleList(
        slug="sample-depin-earners",
        title="DePIN earners (sample)",
        summary="Physical-infrastructure networks whose tokens capture the revenue their users pay.",
        criteria="A DePIN network with on-chain revenue for twelve months and a burn or buyback.",
        revisions=(
            SampleRevision(
                dt.date(2026, 4, 6), ("helium", "render", "akash", "filecoin", "geodnet", "hivemapper"), SAMPLE_NOTE
            ),
            SampleRevision(
                dt.date(2026, 7, 6),
                ("helium", "render", "geodnet", "akash", "hivemapper"),
                "Filecoin's revenue no longer reaches holders: it leaves.",
            ),
        ),
        archived_on=dt.date(2026, 10, 1),
    ),
    SampleList(
        slug="sample-liquid-staking-draft",
        title="Liquid staking picks (sample draft)",
        summary="Liquid staking tokens whose protocol fee reaches governance holders.",
        criteria="A liquid staking protocol whose fee reaches its governance token.",
        revisions=(),
        draft_slugs=("lido", "jito", "rocket-pool", "ether-fi"),
    ),
)


def _at(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(9, 0), tzinfo=dt.UTC)


def _set_entries(top_list: TopList, slugs: tuple[str, ...], tokens: dict[str, Token], sample: SampleList) -> None:
    ListEntry.objects.filter(top_list=top_list).exclude(token__slug__in=slugs).delete()
    existing = {e.token_id: e for e in ListEntry.objects.filter(top_list=top_list)}
    for rank, slug in enumerate(slugs, start=1):
        token = tokens[slug]
        entry = existing.get(token.pk) or ListEntry(top_list=top_list, token=token)
        entry.rank = rank
        entry.blurb = entry.blurb or "Sample blurb: on the list by its figures in the sample data."
        if sample.sponsored_entry and sample.sponsored_entry[0] == slug:
            entry.sponsored, entry.sponsor_name = True, sample.sponsored_entry[1]
        entry.save()


def sample_lists_load() -> int:
    """Make the sample's lists that are missing; returns how many were made. A list whose
    tokens are not all in the database (another data set) is skipped."""
    # Emptying the database (clear_data) takes the tokens and every entry with them: the
    # sample's lists left without any are made again.
    TopList.objects.filter(is_sample=True).exclude(entries__isnull=False).exclude(
        revisions__entries__isnull=False
    ).delete()
    made = 0
    for sample in SAMPLE_LISTS:
        if TopList.objects.filter(slug=sample.slug).exists():
            continue
        wanted = {s for r in sample.revisions for s in r.slugs} | set(sample.draft_slugs)
        tokens = {t.slug: t for t in Token.objects.filter(slug__in=wanted)}
        if len(tokens) != len(wanted):
            continue
        with transaction.atomic():
            top_list = TopList.objects.create(
                slug=sample.slug,
                title=sample.title,
                summary=sample.summary,
                criteria=sample.criteria,
                is_sample=True,
            )
            if not sample.revisions:
                _set_entries(top_list, sample.draft_slugs, tokens, sample)
            for number, revision in enumerate(sample.revisions, start=1):
                _set_entries(top_list, revision.slugs, tokens, sample)
                if number == 1:
                    services.publish(top_list=top_list, editor=None, note=revision.note, now=_at(revision.day))
                else:
                    services.publish_revision(top_list=top_list, editor=None, note=revision.note, now=_at(revision.day))
            if sample.archived_on:
                services.archive(top_list=top_list, now=_at(sample.archived_on))
        made += 1
    return made
