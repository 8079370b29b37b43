"""The Editors group (apps/tokens/migrations/0002) may curate Top 10 lists: create and edit
lists, their entries and revision notes, and read every model's change history."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

EDITOR_PERMISSIONS = {
    "toplist": ["add", "change", "view"],
    "listentry": ["add", "change", "delete", "view"],
    "revision": ["change", "view"],
    "revisionentry": ["view"],
    "historicaltoplist": ["view"],
    "historicallistentry": ["view"],
    "historicalrevision": ["view"],
}


def grant_editorial(apps, schema_editor):
    alias = schema_editor.connection.alias
    app_config = apps.get_app_config("editorial")
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
        *Permission.objects.using(alias).filter(content_type__app_label="editorial", codename__in=codenames)
    )


def revoke_editorial(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    group = Group.objects.using(schema_editor.connection.alias).filter(name="Editors").first()
    if group is not None:
        group.permissions.remove(*group.permissions.filter(content_type__app_label="editorial"))


class Migration(migrations.Migration):
    dependencies = [
        ("editorial", "0001_initial"),
        ("tokens", "0002_editors_group"),
    ]

    operations = [migrations.RunPython(grant_editorial, revoke_editorial)]
