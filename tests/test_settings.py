"""Settings: the two modes, and production's refusal to start insecurely (subprocesses, so
each run reads its own environment)."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from config.secret_key import secret_key_problem

ROOT = Path(__file__).resolve().parent.parent


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser tests' conftest; production never has it.
    dropped = {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DJANGO_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    base = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


PRODUCTION = {
    "DJANGO_ENV": "production",
    "ALLOWED_HOSTS": "accrual.example",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/postgres",
}


def test_production_refuses_to_start_without_a_secret_key():
    result = manage("check", **PRODUCTION)
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_the_development_key():
    result = manage("check", **PRODUCTION, SECRET_KEY="django-insecure-" + "x" * 60)
    assert result.returncode != 0


OLD_ENV_EXAMPLE_KEY = "change-me-to-a-long-random-string-of-at-least-fifty-characters"


def test_production_refuses_the_env_example_placeholder_at_start_and_in_the_deploy_check():
    for command in (("check",), ("check", "--deploy")):
        result = manage(*command, **PRODUCTION, SECRET_KEY=OLD_ENV_EXAMPLE_KEY)
        assert result.returncode != 0
        assert "placeholder" in result.stderr and "token_urlsafe" in result.stderr


def test_env_example_ships_no_secret_key():
    lines = (ROOT / ".env.example").read_text().splitlines()
    assert "SECRET_KEY=" in lines


@pytest.mark.parametrize(
    "key",
    [
        "a" * 64,
        "ab" * 32,
        "0123456789" * 6,
        "your-secret-key-goes-here-and-it-is-long-enough-to-pass-length",
        "x" * 10,
    ],
)
def test_low_entropy_or_placeholder_keys_are_refused(key):
    assert secret_key_problem(key) is not None


def test_generated_keys_are_accepted():
    from django.core.management.utils import get_random_secret_key

    for _ in range(200):
        assert secret_key_problem(secrets.token_urlsafe(50)) is None
        assert secret_key_problem(secrets.token_hex(32)) is None
        assert secret_key_problem(get_random_secret_key()) is None


def test_production_settings_pass_the_deploy_check():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION, SECRET_KEY=secrets.token_urlsafe(60))
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_site_url_is_https_defaulting_to_the_first_allowed_host():
    show = "from django.conf import settings; print(settings.SITE_URL)"
    key = secrets.token_urlsafe(60)
    derived = manage("shell", "-c", show, **PRODUCTION, SECRET_KEY=key)
    assert derived.returncode == 0, derived.stderr
    assert derived.stdout.splitlines()[-1] == "https://accrual.example"
    refused = manage("check", **PRODUCTION, SECRET_KEY=key, SITE_URL="http://accrual.example")
    assert refused.returncode != 0 and "SITE_URL" in refused.stderr


def test_embedded_default_needs_no_configuration():
    result = manage("describe_mode")
    assert result.returncode == 0, result.stderr
    assert "embedded default" in result.stdout
    assert "sqlite3" in result.stdout and "locmem" in result.stdout


def test_full_mode_is_described():
    result = manage(
        "describe_mode",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        REDIS_URL="redis://127.0.0.1:6379/0",
    )
    assert "full mode" in result.stdout and "postgresql" in result.stdout and "redis" in result.stdout


def test_a_bad_boolean_fails_loudly():
    result = manage("check", DEBUG="perhaps")
    assert result.returncode != 0 and "DEBUG must be a boolean" in result.stderr


def test_a_worker_pool_process_freezes_its_startup_objects():
    """worker_process_init (sent in each pool process as it starts) hands the startup objects
    to gc.freeze, so the collector's full passes during a task skip them."""
    import gc

    from celery.signals import worker_process_init

    import config.celery  # noqa: F401 (connects the receiver)

    try:
        gc.unfreeze()
        worker_process_init.send(sender=None)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
