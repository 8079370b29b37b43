"""The sample's Top 10 lists: published with dated revisions (one dropping tokens), an
archived one and a draft, marked sample; loading again changes nothing."""

from __future__ import annotations

import pytest

from apps.editorial.models import Revision, RevisionEntry, TopList
from apps.editorial.sample import SAMPLE_LISTS, sample_lists_load
from apps.editorial.selectors import revision_rows
from tests.factories import TokenFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def sample_tokens():
    slugs = {s for sample in SAMPLE_LISTS for r in sample.revisions for s in r.slugs}
    slugs |= {s for sample in SAMPLE_LISTS for s in sample.draft_slugs}
    return [TokenFactory(slug=slug, symbol=slug[:5].upper()) for slug in sorted(slugs)]


def test_the_sample_lists_are_made_once_with_their_revisions(sample_tokens):
    assert sample_lists_load() == len(SAMPLE_LISTS)
    counts = (TopList.objects.count(), Revision.objects.count(), RevisionEntry.objects.count())

    assert sample_lists_load() == 0
    assert (TopList.objects.count(), Revision.objects.count(), RevisionEntry.objects.count()) == counts
    assert set(TopList.objects.values_list("is_sample", flat=True)) == {True}
    statuses = sorted(TopList.objects.values_list("status", flat=True))
    assert statuses == ["archived", "draft", "published", "published"]
    sharers = TopList.objects.get(slug="sample-top-10-revenue-sharers")
    rows = revision_rows(list(sharers.revisions.prefetch_related("entries__token")))
    assert [len(r.entries) for r in rows] == [10, 10, 10]
    assert [e.token.slug for e in rows[1].dropped] == ["ether-fi"]
    assert [e.token.slug for e in rows[2].dropped] == ["gmx"]


def test_a_list_whose_tokens_are_missing_is_skipped():
    TokenFactory(slug="hyperliquid")

    assert sample_lists_load() == 0
    assert not TopList.objects.exists()


def test_lists_emptied_with_the_data_set_are_made_again(sample_tokens):
    from apps.tokens.data_set import data_clear

    sample_lists_load()
    data_clear()
    assert TopList.objects.count() == len(SAMPLE_LISTS)  # lists stay; their tokens and entries went

    for token in sample_tokens:
        TokenFactory(slug=token.slug)
    assert sample_lists_load() == len(SAMPLE_LISTS)
    assert RevisionEntry.objects.count() == 10 * 3 + 6 + 5 + 6 + 5
