from django.apps import AppConfig


class ApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.api"
    verbose_name = "API"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_delete, post_save

        from apps.accounts.models import Plan

        from . import key_cache, schema  # noqa: F401 (schema registers the key scheme with drf-spectacular)
        from .models import APIKey

        # Any change to a key, a reader or a plan retires the cached keys (key_cache).
        user = get_user_model()
        for model in (APIKey, Plan, user):
            post_delete.connect(key_cache.on_change, sender=model, dispatch_uid=f"api-keys-delete-{model.__name__}")
        for model in (APIKey, Plan):
            post_save.connect(key_cache.on_change, sender=model, dispatch_uid=f"api-keys-save-{model.__name__}")
        post_save.connect(key_cache.on_user_saved, sender=user, dispatch_uid="api-keys-save-user")
