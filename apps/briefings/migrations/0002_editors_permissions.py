"""The Editors group (apps/tokens/migrations/0002) may write the daily briefing's editor's
notes and read the briefings."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR_PERMISSIONS = {
    "editornote": ["add", "change", "view"],
    "briefing": ["view"],
}


def grant_briefings(apps, schema_editor):
    alias = schema_editor.connection.alias
    app_config = apps.get_app_config("briefings")
    models_module = getattr(app_config, "models_module", None)
    app_config.models_module = models_module or True  # see tokens 0002: historical apps lack one
    try:
        create_permissions(app_config, apps=apps, verbosity=0, using=alias)
    finally:
        app_config.models_module = models_module
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.using(alias).get_or_create(name="Editors")
    codenames = [f"{action}_{model}" for model, actions in EDITOR_PERMISSIONS.items() for action in actions]
    group.permissions.add(
        *Permission.objects.using(alias).filter(content_type__app_label="briefings", codename__in=codenames)
    )


def revoke_briefings(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.using(schema_editor.connection.alias).filter(name="Editors").first()
    if group is not None:
        group.permissions.remove(*group.permissions.filter(content_type__app_label="briefings"))


class Migration(migrations.Migration):
    dependencies = [
        ("briefings", "0001_initial"),
        ("tokens", "0002_editors_group"),
    ]

    operations = [migrations.RunPython(grant_briefings, revoke_briefings)]
