from django.apps import AppConfig


class TokensConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.tokens"

    def ready(self) -> None:
        from django.db import models

        from .bulk import AnyOf

        models.IntegerField.register_lookup(AnyOf)
        models.ForeignKey.register_lookup(AnyOf)

        from django.contrib.admin.models import LogEntry
        from django.db.models.signals import post_save

        # An editor's change in the admin (a token, an event, a report) changes what pages
        # show; the admin logs each one (a bulk delete without this signal: admin.RetiresPageCaches).
        # Refreshes retire the caches when their run finishes.
        post_save.connect(_admin_edited, sender=LogEntry, dispatch_uid="accrual-admin-edited")


def _admin_edited(sender, instance, **kwargs) -> None:
    if instance.content_type is not None and instance.content_type.app_label == "tokens":
        from .selectors import data_changed

        data_changed()
