"""Sample mode: the sample load builds briefings for the sample's last days, ready and
labelled sample, so the archive has content; loading again keeps one a day."""

from __future__ import annotations

import datetime as dt
from io import StringIO

import pytest
from django.core.management import call_command

from apps.briefings.models import Briefing
from apps.briefings.sample import SAMPLE_DAYS
from apps.ratings.models import Rating
from apps.tokens.ingestion import sample_data_load
from apps.tokens.providers.sample import SampleProvider
from tests.tokens.sample_builder import write_sample

pytestmark = pytest.mark.django_db


def test_the_sample_load_builds_labelled_briefings_of_its_last_days(client, tmp_path):
    provider = SampleProvider(write_sample(tmp_path / "sample"))
    sample_data_load(provider=provider)

    last = Rating.objects.order_by("-date").values_list("date", flat=True).first()
    days = [last - dt.timedelta(days=n) for n in range(SAMPLE_DAYS - 1, -1, -1)]
    briefings = list(Briefing.objects.order_by("date"))
    assert [b.date for b in briefings] == days
    assert {(b.status, b.is_sample) for b in briefings} == {(Briefing.Status.READY, True)}
    assert briefings[-1].sections["day"] == last.isoformat()

    archive = client.get("/briefings/").content.decode()
    assert archive.count("Sample briefing") == SAMPLE_DAYS
    page = client.get(f"/briefings/{last:%Y-%m-%d}/")
    assert page.status_code == 200 and "Sample briefing" in page.content.decode()

    sample_data_load(provider=provider)
    assert Briefing.objects.count() == SAMPLE_DAYS


def test_a_database_loaded_before_briefings_gets_them_from_the_load_command(tmp_path):
    data_dir = write_sample(tmp_path / "sample")
    call_command("load_sample_data", data_dir=str(data_dir), no_progress=True, stdout=StringIO())
    Briefing.objects.all().delete()

    out = StringIO()
    call_command("load_sample_data", data_dir=str(data_dir), no_progress=True, stdout=out)
    assert "already loaded" in out.getvalue() and f"Sample briefings built: {SAMPLE_DAYS}." in out.getvalue()
    assert Briefing.objects.filter(is_sample=True).count() == SAMPLE_DAYS
