"""An editor's category choice, kept apart from the one the category mappings give; and the
Editors group may map the providers' category names."""

from django.contrib.auth.management import create_permissions
from django.db import migrations, models


def grant_category_mappings(apps, schema_editor):
    app_config = apps.get_app_config("tokens")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True  # see 0002: historical apps lack a models module
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=schema_editor.connection.alias)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group = Group.objects.using(schema_editor.connection.alias).filter(name="Editors").first()
    if group is not None:
        group.permissions.add(
            *Permission.objects.using(schema_editor.connection.alias).filter(
                content_type__app_label="tokens", codename__in=["change_categorymapping", "view_categorymapping"]
            )
        )


class Migration(migrations.Migration):
    dependencies = [("tokens", "0011_universe_and_refresh_state")]

    operations = [
        migrations.AddField(
            model_name="token",
            name="category_locked",
            field=models.BooleanField(
                default=False,
                help_text="Set when an editor picks the category: the provider's category mapping then leaves it.",
            ),
        ),
        migrations.RunPython(grant_category_mappings, migrations.RunPython.noop),
    ]
