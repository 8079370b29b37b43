"""Accrual settings: one module, driven by environment variables.

Two modes share every code path:

* **Embedded default** (no variables set): SQLite, locmem cache, Celery tasks run
  eagerly, console email, and the bundled sample data.
* **Full mode**: ``DATABASE_URL`` (PostgreSQL), ``REDIS_URL`` (broker, cache, quotas),
  SMTP settings and provider keys.

``DJANGO_ENV=production`` turns on the production hardening and refuses to start
without a real ``SECRET_KEY``.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from config.secret_key import HOW_TO_MAKE_ONE, secret_key_problem

BASE_DIR = Path(__file__).resolve().parent.parent


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


DJANGO_ENV = env_str("DJANGO_ENV", "development")
if DJANGO_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured("DJANGO_ENV must be development, production or test")
PRODUCTION = DJANGO_ENV == "production"

_INSECURE_DEV_KEY = "django-insecure-accrual-embedded-default-key-not-for-production-use"
SECRET_KEY = env_str("SECRET_KEY")
if PRODUCTION:
    if problem := secret_key_problem(SECRET_KEY):
        raise ImproperlyConfigured(f"{problem}: production needs a random key, e.g. from {HOW_TO_MAKE_ONE}")
elif not SECRET_KEY:
    SECRET_KEY = _INSECURE_DEV_KEY

DEBUG = env_bool("DEBUG", default=not PRODUCTION and DJANGO_ENV != "test")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    # The admin with Accrual's site: its login is the accounts login (rate limits, 2FA).
    "apps.accounts.admin_apps.AccrualAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "simple_history",
    "adminsortable2",
    "apps.accounts",
    "apps.tokens",
    "apps.ratings",
    "apps.watchlists",
    "apps.editorial",
    "apps.briefings",
    "apps.newsletter",
    "rest_framework_api_key",
    "apps.api",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "apps.accounts.middleware.CacheOutageMiddleware",
    # /api/: refuses keys in the URL, adds the RateLimit headers, answers errors as problems.
    "apps.api.middleware.ApiMiddleware",
    # Records the admin user on each historical row of the editorial models.
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "config.context_processors.site",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

# --- Database -----------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        }
    }
if PRODUCTION and DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    raise ImproperlyConfigured("Production needs DATABASE_URL pointing at PostgreSQL")

# --- Cache, Celery -------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 2, "SOCKET_TIMEOUT": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Retry a lost broker forever: by default a worker gives up after 100 attempts (about 45
# minutes of Redis outage, at up to 30 s apart) and exits, so it would miss Redis coming back.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A message whose worker died unacknowledged is redelivered after this many seconds; it
# must exceed the longest hard time limit, or a slow task would be run twice at once.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
    # How often a worker sweeps for messages whose worker died (seconds × throttle).
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_RESTORE_THROTTLE", 10),
}
MARKETS_REFRESH_SECONDS = env_int("MARKETS_REFRESH_SECONDS", 15 * 60)
# Every entry expires before its next run, so a backlog never piles up runs.
CELERY_BEAT_SCHEDULE = {
    "markets-every-15-minutes": {
        "task": "tokens.refresh_markets",
        "schedule": MARKETS_REFRESH_SECONDS,
        "options": {"expires": MARKETS_REFRESH_SECONDS * 14 // 15},
    },
    # Before the day's history jobs, so a coin that joined overnight gets its history.
    "universe-daily": {
        "task": "tokens.refresh_universe",
        "schedule": crontab(hour=0, minute=5),
        "options": {"expires": 23 * 3600},
    },
    "price-history-daily": {
        "task": "tokens.refresh_price_history",
        "schedule": crontab(hour=0, minute=20),
        "options": {"expires": 23 * 3600},
    },
    "mapping-daily": {
        "task": "tokens.refresh_mapping",
        "schedule": crontab(hour=0, minute=50),
        "options": {"expires": 23 * 3600},
    },
    # DefiLlama's UTC day closes at 00:00; its adapters settle within the hour.
    "revenue-daily": {
        "task": "tokens.refresh_revenue",
        "schedule": crontab(hour=1, minute=15),
        "options": {"expires": 23 * 3600},
    },
    # After the day's revenue and ratings: one email per reader with their digest alerts.
    "alerts-digest-daily": {
        "task": "alerts.send_digest",
        "schedule": crontab(hour=7, minute=0),
        "options": {"expires": 23 * 3600},
    },
    # Scheduled Top 10 lists go live within a minute of their publish time.
    "editorial-publish-due-every-minute": {
        "task": "editorial.publish_due",
        "schedule": 60,
        "options": {"expires": 55},
    },
    # The daily briefing: built once the day's ratings exist and BRIEFING_TIME_UTC has passed.
    "briefings-build-and-send-every-5-minutes": {
        "task": "briefings.build_and_send",
        "schedule": 300,
        "options": {"expires": 290},
    },
    # Newsletter: resume sends a worker left unfinished and retry failed deliveries when due.
    "newsletter-retry-every-5-minutes": {
        "task": "newsletter.retry_failed_deliveries",
        "schedule": 300,
        "options": {"expires": 280},
    },
    # API usage: copy the day's per-key counts from Redis (35 days, lost on a flush) to the database.
    "api-record-usage-every-10-minutes": {
        "task": "api.record_usage",
        "schedule": 600,
        "options": {"expires": 580},
    },
    # Webhooks: queue new notifications and post the deliveries that are due.
    "webhooks-every-minute": {
        "task": "webhooks.deliver",
        "schedule": 60,
        "options": {"expires": 55},
    },
}
# Webhook URLs must be https and resolve to public addresses, checked when added and again
# before each post (DNS can change). Development and tests may post to http://127.0.0.1.
ACCRUAL_WEBHOOKS_ALLOW_PRIVATE = env_bool("ACCRUAL_WEBHOOKS_ALLOW_PRIVATE", not PRODUCTION)

# --- Auth ----------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "accounts:overview"

# django-allauth: email is the login, verified before the first sign-in; no usernames.
ACCOUNT_ADAPTER = "apps.accounts.adapter.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_LOGIN_BY_CODE_ENABLED = False
ACCOUNT_LOGOUT_ON_GET = False
# allauth keeps the current session (update_session_auth_hash); every other session of the
# user fails Django's session hash check on its next request.
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_REAUTHENTICATION_REQUIRED = True
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if PRODUCTION else "http"
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Accrual] "
# Failed logins are counted per IP and per (IP, email) — see AccountAdapter — so an attacker
# is slowed without locking the account's owner out from anywhere else.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
}
# Behind a proxy the client IP (the rate limits' key) is the last untrusted X-Forwarded-For hop.
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "Accrual"
# allauth would stop readers with 2FA from changing their email, against someone signing up with
# another's unverified address and locking it with 2FA. Here verification is mandatory before
# any login, and a changed address replaces the old one only once verified.
MFA_ALLOW_UNVERIFIED_EMAIL = True
# Staff must have an authenticator app to enter the admin; in development it is offered only.
ACCRUAL_ADMIN_REQUIRES_2FA = env_bool("ACCRUAL_ADMIN_REQUIRES_2FA", PRODUCTION)

if DJANGO_ENV == "test":
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# The editorial models' change history is for reading: a list changes through its admin
# form and its publish actions (which check it), never by restoring an old row.
SIMPLE_HISTORY_REVERT_DISABLED = True

# --- Email ---------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Accrual <hello@accrual.invalid>")
# The site's absolute address, for links in emails (unsubscribe, confirm). Production needs
# https: it defaults to https://<first ALLOWED_HOSTS entry> and refuses an http URL.
SITE_URL = env_str("SITE_URL").rstrip("/")
if PRODUCTION:
    if not SITE_URL and ALLOWED_HOSTS and not ALLOWED_HOSTS[0].startswith(".") and ALLOWED_HOSTS[0] != "*":
        SITE_URL = f"https://{ALLOWED_HOSTS[0]}"
    if not SITE_URL.startswith("https://"):
        raise ImproperlyConfigured("Production needs SITE_URL set to the site's https:// address")
elif not SITE_URL:
    SITE_URL = "http://127.0.0.1:8000"
# Newsletter: sign-up rate limits (allauth's syntax: per address "key", per client "ip"), how
# long a confirmation link works, and when a failing address is retried and then suppressed.
NEWSLETTER_SIGNUP_RATE_LIMITS = env_str("NEWSLETTER_SIGNUP_RATE_LIMITS", "3/h/key,20/h/ip")
NEWSLETTER_CONFIRM_MAX_AGE = env_int("NEWSLETTER_CONFIRM_MAX_AGE", 3 * 24 * 3600)
NEWSLETTER_MAX_ATTEMPTS = env_int("NEWSLETTER_MAX_ATTEMPTS", 4)
NEWSLETTER_RETRY_BACKOFF = env_int("NEWSLETTER_RETRY_BACKOFF", 300)
NEWSLETTER_SUPPRESS_AFTER = env_int("NEWSLETTER_SUPPRESS_AFTER", 3)
NEWSLETTER_SMTP_TIMEOUT = env_int("NEWSLETTER_SMTP_TIMEOUT", 30)
# Where bounces go: "bounces@example.com" sends each newsletter message with the envelope
# sender bounces+<signed delivery id>@example.com (VERP), so `manage.py newsletter_bounce`
# can tell which delivery a bounce is about. Empty: the envelope sender is DEFAULT_FROM_EMAIL.
NEWSLETTER_BOUNCE_ADDRESS = env_str("NEWSLETTER_BOUNCE_ADDRESS").strip()
if NEWSLETTER_BOUNCE_ADDRESS and not re.fullmatch(r"[^@+\s]+@[^@\s]+", NEWSLETTER_BOUNCE_ADDRESS):
    raise ImproperlyConfigured("NEWSLETTER_BOUNCE_ADDRESS must be a plain address like bounces@example.com (no '+')")
# Issue kinds to the dotted path of their renderer factory: ``factory(issue_key)`` returns
# ``render(subscription) -> (subject, html, text)``, or None for an unknown issue. An issue
# key is "<kind>:<rest>" (e.g. "briefing:2026-12-05"), so a retry can render it again.
NEWSLETTER_RENDERERS: dict[str, str] = {"briefing": "apps.briefings.emails.briefing_renderer"}

# --- Security ------------------------------------------------------------------
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "connect-src": [SELF],
        "font-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # No log line shows an API key, not even one sent in a URL (runserver logs query strings).
    "filters": {"redact_api_keys": {"()": "apps.api.log_redaction.RedactApiKeys"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_api_keys"]}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- API -----------------------------------------------------------------------
# Every API view gets key authentication, the read/write scopes, the plan's quotas and
# problem responses from these defaults; a view sets ``write_scope`` to accept writes.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["apps.api.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated", "apps.api.permissions.KeyHasScope"],
    "DEFAULT_THROTTLE_CLASSES": ["apps.api.throttling.PlanQuotaThrottle"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer", "apps.api.v1.renderers.CSVRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "apps.api.problems.problem_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "apps.api.v1.pagination.StableCursorPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Decimals as strings: JSON numbers would lose digits in most clients.
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    # The schema and its docs page are public: anyone may read how to call the API.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "TITLE": "Accrual API",
    "DESCRIPTION": (
        "Token prices, protocol revenue, value accrual, ratings and Top 10 lists. Numbers are "
        "strings (exact decimals); every figure carries its as-of time, source and staleness."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The docs page's Swagger UI from local static files, never a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "GradeEnum": "apps.ratings.models.Grade",
        "AlertKindEnum": "apps.watchlists.models.AlertKind",
        "BriefingStatusEnum": "apps.briefings.models.Briefing.Status",
    },
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "apps.api.schema.problem_responses"],
}
# Where the quota counters live in Redis (tests use a namespace of their own).
ACCRUAL_API_QUOTA_KEY_PREFIX = env_str("ACCRUAL_API_QUOTA_KEY_PREFIX", "accrual:api")

# --- Accrual -------------------------------------------------------------------
# Where the data comes from: "sample" replays the bundled data set; "live" calls the
# providers (CoinGecko, DefiLlama) with the keys and base URLs below.
ACCRUAL_DATA_MODE = env_str("ACCRUAL_DATA_MODE", "sample")
if ACCRUAL_DATA_MODE not in {"sample", "live"}:
    raise ImproperlyConfigured("ACCRUAL_DATA_MODE must be sample or live")
# Live mode's universe: the N largest coins by market cap (250 a CoinGecko call, so N/250
# calls a day), plus every DefiLlama protocol with fees data and a CoinGecko id.
ACCRUAL_UNIVERSE_SIZE = env_int("ACCRUAL_UNIVERSE_SIZE", 1000)
if not 1 <= ACCRUAL_UNIVERSE_SIZE <= 50_000:
    raise ImproperlyConfigured("ACCRUAL_UNIVERSE_SIZE must be between 1 and 50000")
COINGECKO_API_KEY = env_str("COINGECKO_API_KEY")
COINGECKO_BASE_URL = env_str("COINGECKO_BASE_URL", "https://api.coingecko.com/api/v3")
# CoinGecko's demo plan: 100 calls a minute today, 30 on older pages.
COINGECKO_RATE_LIMIT_PER_MINUTE = env_int("COINGECKO_RATE_LIMIT_PER_MINUTE", 30)
# Calls a calendar month (UTC): the demo plan's 10,000; paid plans from about 500,000. 0 = none.
COINGECKO_MONTHLY_QUOTA = env_int("COINGECKO_MONTHLY_QUOTA", 10_000)
DEFILLAMA_BASE_URL = env_str("DEFILLAMA_BASE_URL", "https://api.llama.fi")
DEFILLAMA_API_KEY = env_str("DEFILLAMA_API_KEY")
DEFILLAMA_RATE_LIMIT_PER_MINUTE = env_int("DEFILLAMA_RATE_LIMIT_PER_MINUTE", 120)
# Calls a calendar month (UTC) the plan allows; 0: no monthly quota. CoinGecko's demo plan
# allows about 10,000; DefiLlama's free API has none.
DEFILLAMA_MONTHLY_QUOTA = env_int("DEFILLAMA_MONTHLY_QUOTA", 0)
# The tokens quoted every market run when the quota allows (apps/tokens/budget.py): this
# many of the largest by market cap, plus every token on a watchlist or a Top 10 list.
ACCRUAL_PRIORITY_TOKENS = env_int("ACCRUAL_PRIORITY_TOKENS", 250)
for _name in ("COINGECKO_MONTHLY_QUOTA", "DEFILLAMA_MONTHLY_QUOTA", "ACCRUAL_PRIORITY_TOKENS"):
    if globals()[_name] < 0:
        raise ImproperlyConfigured(f"{_name} must be 0 or more")
# Every outbound call: explicit timeouts, bounded retries, a circuit shared by all workers.
PROVIDER_CONNECT_TIMEOUT = env_int("PROVIDER_CONNECT_TIMEOUT", 5)
PROVIDER_READ_TIMEOUT = env_int("PROVIDER_READ_TIMEOUT", 20)
PROVIDER_MAX_ATTEMPTS = env_int("PROVIDER_MAX_ATTEMPTS", 5)
PROVIDER_BACKOFF_CAP = env_int("PROVIDER_BACKOFF_CAP", 60)
PROVIDER_RETRY_AFTER_CAP = env_int("PROVIDER_RETRY_AFTER_CAP", 300)
PROVIDER_MAX_TOTAL_WAIT = env_int("PROVIDER_MAX_TOTAL_WAIT", 300)
PROVIDER_CIRCUIT_FAILURES = env_int("PROVIDER_CIRCUIT_FAILURES", 5)
PROVIDER_CIRCUIT_RESET_SECONDS = env_int("PROVIDER_CIRCUIT_RESET_SECONDS", 300)
# Hours after which a token's last good price or revenue is shown as stale.
PRICE_FRESHNESS_HOURS = env_int("PRICE_FRESHNESS_HOURS", 2)
REVENUE_FRESHNESS_HOURS = env_int("REVENUE_FRESHNESS_HOURS", 48)


def env_time(name: str, default: str) -> str:
    """An "HH:MM" UTC time of day ("" allowed where the default is "")."""
    raw = env_str(name, default).strip()
    if raw:
        try:
            dt.time.fromisoformat(raw)
        except ValueError as exc:
            raise ImproperlyConfigured(f"{name} must be a time HH:MM (UTC), got {raw!r}") from exc
    return raw


# The daily briefing (apps/briefings): built after the day's refresh and ratings, at or
# after this UTC time. "wait": it waits for the editor's note until the deadline (none:
# until the note comes); "skip": it goes at the time, with a note only if one is written.
BRIEFING_TIME_UTC = env_time("BRIEFING_TIME_UTC", "07:00")
BRIEFING_NOTE_POLICY = env_str("BRIEFING_NOTE_POLICY", "skip")
if BRIEFING_NOTE_POLICY not in {"wait", "skip"}:
    raise ImproperlyConfigured("BRIEFING_NOTE_POLICY must be wait or skip")
BRIEFING_NOTE_DEADLINE_UTC = env_time("BRIEFING_NOTE_DEADLINE_UTC", "09:00")
BRIEFING_ARCHIVE_PAGE_SIZE = env_int("BRIEFING_ARCHIVE_PAGE_SIZE", 20)
SCREENER_PAGE_SIZE = env_int("SCREENER_PAGE_SIZE", 50)
