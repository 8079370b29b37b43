from django.apps import AppConfig


class TokensConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "apps.tokens"

    def ready(self) -> None:
        from django.db.backends.signals import connection_created

        from config.postgres import fast_utc_timestamps

        connection_created.connect(fast_utc_timestamps, dispatch_uid="accrual-fast-utc-timestamps")
