"""Revenue reports loaded from the sample catalogue were stored as the editor's, with the
link the catalogue gave: in a sample database, those (an editor's report made in the admin
names who entered it) become what they are, generated sample records citing no page."""

from django.db import migrations


def sample_reports_are_generated(apps, schema_editor):
    SyncRun = apps.get_model("tokens", "SyncRun")
    RevenueReport = apps.get_model("tokens", "RevenueReport")
    db = schema_editor.connection.alias
    if not SyncRun.objects.using(db).filter(provider="sample", kind="sample-load").exists():
        return
    RevenueReport.objects.using(db).filter(source="editor", entered_by__isnull=True).update(
        source="sample", source_url=""
    )


class Migration(migrations.Migration):
    dependencies = [("tokens", "0008_accrual_event_buy_and_burn")]

    operations = [migrations.RunPython(sample_reports_are_generated, migrations.RunPython.noop)]
