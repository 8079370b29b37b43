"""The one HTTP client every live provider uses: timeouts, retries, a shared circuit, a
shared outbound rate limit and the plan's monthly quota.

* Every call carries an explicit ``httpx.Timeout`` (connect and read).
* Retryable: 408, 429, 5xx, timeouts, connection errors and resets, and HTML pages
  (Cloudflare, even with a 200). Not retried: any other 4xx (``ProviderFatalError``) and a
  2xx whose body is not JSON (``ProviderDataError``).
* Backoff is exponential with full jitter, capped; ``Retry-After`` (seconds or an HTTP date)
  sets a floor on the next wait. A ``Retry-After`` beyond ``retry_after_cap``, or a wait that
  would take the call past ``max_total_wait``, ends the call at once with
  ``ProviderRetryableError.retry_after`` set, so a task can reschedule itself instead of
  holding a worker. All waiting goes through the injected ``sleep``. (tenacity)
* ``Circuit``, ``RateLimiter`` (at most N requests in any rolling minute) and ``MonthlyQuota``
  (the plan's calls a calendar month; past it ``ProviderQuotaExhaustedError``, no request) come
  from ``shared_state``: in Redis, so every worker of a provider shares them.
* API keys never reach a log record or an error message: header values and any registered
  secret (DefiLlama's key sits in the URL path) are redacted, including in httpx's own
  request log lines.
"""

from __future__ import annotations

import email.utils
import functools
import json
import logging
import math
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any, NoReturn

import httpcore  # noqa: F401 (httpx imports it on its first client: a worker's first refresh would pay that)
import httpx
import tenacity

from .base import ProviderDataError, ProviderFatalError, ProviderRetryableError
from .shared_state import Circuit, MonthlyQuota, RateLimiter

logger = logging.getLogger(__name__)

REDACTED = "***"
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


# --- Secret redaction ------------------------------------------------------------------


class _SecretRedactor(logging.Filter):
    """Replaces registered secrets in log records. Installed on httpx's and httpcore's loggers
    (which log request URLs) and on this package's loggers."""

    def __init__(self) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._lock = threading.Lock()

    def register(self, secret: str) -> None:
        if secret and len(secret) >= 4:
            with self._lock:
                self._secrets.add(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = sorted(self._secrets, key=len, reverse=True)
        for secret in secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # pragma: no cover - a broken record is the logging module's business
            return True
        redacted = self.redact(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_redactor = _SecretRedactor()
for _name in (
    "httpx",
    "httpcore",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    __name__,
    "apps.tokens.providers.coingecko",
    "apps.tokens.providers.shared_state",
    "apps.tokens.providers.defillama",
):
    logging.getLogger(_name).addFilter(_redactor)


def register_secret(secret: str | None) -> None:
    """Never let ``secret`` appear in a log record or a provider error message."""
    if secret:
        _redactor.register(secret)


def redact(text: str) -> str:
    return _redactor.redact(text)


_CREDENTIAL_HEADER = re.compile(r"key|token|auth|secret|password|cookie", re.IGNORECASE)


def _register_credential_headers(headers: dict[str, str]) -> None:
    for name, value in headers.items():
        if _CREDENTIAL_HEADER.search(name):
            register_secret(value)


# --- The client ------------------------------------------------------------------------


@dataclass
class HttpStats:
    """Counters a caller copies into its SyncRun (``pages`` = logical requests)."""

    requests: int = 0
    attempts: int = 0
    retries: int = 0
    failures: int = 0
    waited: float = 0.0

    @property
    def pages(self) -> int:
        return self.requests

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "pages": self.pages}


class _Retry(Exception):
    """One attempt failed in a way worth retrying (internal: tenacity retries on it)."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """``Retry-After`` as seconds from ``now``: an integer (or decimal) count or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - now
    if not math.isfinite(seconds):
        return None
    return max(seconds, 0.0)


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def error_summary(body: bytes, content_type: str = "") -> tuple[str, int | None]:
    """A short message and the provider's error code from an error body, whatever its shape:
    CoinGecko ``{"status": {"error_code", "error_message"}}``, top-level ``error_code``,
    ``{"error": "coin not found"}``, DefiLlama's plain text, or an HTML page's title."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "empty body", None
    if _looks_like_html(body, content_type):
        match = _HTML_TITLE.search(body)
        title = match.group(1).decode("utf-8", errors="replace") if match else ""
        return _short(f"HTML page{': ' + title.strip() if title.strip() else ''}"), None
    try:
        data = json.loads(text)
    except ValueError:
        return _short(text.splitlines()[0]), None
    if not isinstance(data, dict):
        return _short(text), None
    code: Any = data.get("error_code")
    message: Any = data.get("error_message") or data.get("message")
    status = data.get("status")
    if isinstance(status, dict):
        code = code if code is not None else status.get("error_code")
        message = message or status.get("error_message")
    error = data.get("error")
    if not message and isinstance(error, str):
        message = error
    elif not message and isinstance(error, dict):
        message = error.get("message") or error.get("error_message")
    if not isinstance(code, int) or isinstance(code, bool):
        code = None
    return _short(str(message) if message else text), code


def _looks_like_html(body: bytes, content_type: str) -> bool:
    return "text/html" in content_type.lower() or body.lstrip()[:1] == b"<"


class ProviderHttpClient:
    """Sync JSON client for one provider. See the module docstring for the policy; tenacity
    runs the retries (full-jitter backoff, the Retry-After floor, the stops)."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: dict[str, str] | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 20.0,
        max_attempts: int = 5,
        backoff_base: float = 1.0,
        backoff_cap: float = 60.0,
        retry_after_cap: float = 300.0,
        max_total_wait: float | None = None,
        circuit: Circuit | None = None,
        rate_limit: RateLimiter | None = None,
        quota: MonthlyQuota | None = None,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        secrets: Iterable[str] = (),
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.provider = provider
        self.max_attempts = max_attempts
        # Full jitter: uniform(0, min(cap, base × 2^n)) before the n-th retry (n from 0).
        self.backoff = tenacity.wait_random_exponential(multiplier=backoff_base, max=backoff_cap)
        self.retry_after_cap = retry_after_cap
        self.max_total_wait = max_total_wait
        self.circuit = circuit if circuit is not None else Circuit(provider, clock=clock)
        self.rate_limit = rate_limit
        self.quota = quota
        self.sleep = sleep
        self.clock = clock
        self.timeout = httpx.Timeout(
            connect=connect_timeout, read=read_timeout, write=read_timeout, pool=connect_timeout
        )
        self.stats = HttpStats()
        for secret in secrets:
            register_secret(secret)
        _register_credential_headers(headers or {})
        self._client = httpx.Client(
            base_url=base_url,
            headers=headers or {},
            timeout=self.timeout,
            transport=transport,
            follow_redirects=False,
            verify=tls_context(),
        )

    # Public API.

    def get_json(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self._call("GET", path, params=params)

    def post_json(self, path: str, json: Any) -> Any:
        return self._call("POST", path, json_body=json)

    def update_headers(self, headers: dict[str, str]) -> None:
        """Add headers (e.g. a provider key) to every later request; credential values are
        redacted from logs."""
        _register_credential_headers(headers)
        self._client.headers.update(headers)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> ProviderHttpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # Internals.

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None) -> Any:
        self.stats.requests += 1
        call = _CallState(trial=self.circuit.before_request())

        def attempt() -> Any:
            if call.attempts:  # another worker may have opened the circuit while this one waited
                call.trial = self.circuit.before_request()
            call.attempts += 1
            return self._attempt(method, path, params=params, json_body=json_body)

        def stop(state: tenacity.RetryCallState) -> bool:
            failure = state.outcome.exception()
            if call.trial or state.attempt_number >= self.max_attempts:
                return True  # a half-open trial is a single attempt
            if failure.retry_after is not None and failure.retry_after > self.retry_after_cap:
                call.give_up = f"Retry-After {failure.retry_after:.0f} s exceeds the {self.retry_after_cap:.0f} s cap"
                return True
            if self.max_total_wait is not None and state.idle_for + state.upcoming_sleep > self.max_total_wait:
                call.give_up = (
                    f"waiting {state.upcoming_sleep:.0f} s more would exceed the {self.max_total_wait:.0f} s budget"
                )
                call.retry_after = state.upcoming_sleep
                return True
            return False

        def before_sleep(state: tenacity.RetryCallState) -> None:
            logger.warning(
                "%s %s %s: attempt %d/%d failed (%s); retrying in %.2f s",
                self.provider,
                method,
                redact(path),
                state.attempt_number,
                self.max_attempts,
                state.outcome.exception().reason,
                state.upcoming_sleep,
            )
            self.stats.retries += 1

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(_Retry),
            wait=self._wait_before_retry,
            stop=stop,
            before_sleep=before_sleep,
            sleep=self._wait,
            retry_error_callback=lambda state: self._give_up(method, path, call, state.outcome.exception()),
        )
        try:
            value = retrying(attempt)
        except (ProviderFatalError, ProviderDataError):
            # The provider answered: it is up, whatever it thinks of this request.
            self.circuit.record_success()
            raise
        self.circuit.record_success()
        return value

    def _wait_before_retry(self, state: tenacity.RetryCallState) -> float:
        """The jittered backoff, or the provider's Retry-After if that is longer."""
        retry_after = state.outcome.exception().retry_after
        return max(self.backoff(state), retry_after or 0.0)

    def _give_up(self, method: str, path: str, call: _CallState, failure: _Retry) -> NoReturn:
        self.stats.failures += 1
        self.circuit.record_failure(trial=call.trial)
        reason = f"{method} {path}: {failure.reason}" + (f"; {call.give_up}" if call.give_up else "")
        logger.warning("%s %s", self.provider, redact(reason))
        raise ProviderRetryableError(
            self.provider,
            redact(reason),
            status=failure.status,
            attempts=call.attempts,
            retry_after=call.retry_after if call.retry_after is not None else failure.retry_after,
        )

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited += float(seconds)
            self.sleep(float(seconds))  # tenacity passes a float subclass

    def _attempt(self, method: str, path: str, *, params: dict[str, Any] | None, json_body: Any) -> Any:
        if self.quota is not None:
            self.quota.spend()  # before the rate limit: a refused call must not take a slot
        if self.rate_limit is not None:
            self.stats.waited += self.rate_limit.acquire()
        self.stats.attempts += 1
        try:
            response = self._client.request(method, path, params=params, json=json_body, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            raise _Retry(f"timeout ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retry(f"connection error ({type(exc).__name__})") from exc
        return self._classify(response, path)

    def _classify(self, response: httpx.Response, path: str) -> Any:
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        body = response.content
        html = _looks_like_html(body, content_type)
        if status in (408, 429) or status >= 500 or (html and (status < 400 or status == 403)):
            message, _code = error_summary(body, content_type)
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=self.clock())
            raise _Retry(redact(f"HTTP {status}: {message}"), status=status, retry_after=retry_after)
        if status >= 300:
            message, code = error_summary(body, content_type)
            if status < 400:
                message = "unexpected redirect"
            raise ProviderFatalError(self.provider, status, redact(message), error_code=code, path=redact(path))
        try:
            # Numbers with a fraction become Decimals straight from their text: exact, and
            # without a float (and its repr) in between.
            return json.loads(body, parse_float=Decimal)
        except ValueError as exc:
            raise ProviderDataError(
                f"{self.provider} {redact(path)}: truncated or invalid JSON ({len(body)} bytes)"
            ) from exc


@dataclass
class _CallState:
    """What one logical call's retries share: whether it holds the half-open trial, its
    attempts, and why it gave up early (if it did)."""

    trial: bool
    attempts: int = 0
    give_up: str = ""
    retry_after: float | None = None


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once per process (at import, so before a
    worker's first task): building it loads the CA bundle, about 20 ms that every refresh
    would otherwise pay for its client."""
    return httpx.create_ssl_context()


tls_context()


def provider_http_options(
    provider: str, *, rate_limit_setting: str | None = None, default_rpm: int | None = None
) -> dict[str, Any]:
    """ProviderHttpClient keyword arguments from settings (read with getattr, so every one is
    optional): REDIS_URL shares the circuit and the rate limit between workers;
    PROVIDER_CONNECT_TIMEOUT, PROVIDER_READ_TIMEOUT, PROVIDER_MAX_ATTEMPTS,
    PROVIDER_BACKOFF_CAP, PROVIDER_RETRY_AFTER_CAP, PROVIDER_MAX_TOTAL_WAIT (per call, keeps a
    task inside its time limit), PROVIDER_CIRCUIT_FAILURES and PROVIDER_CIRCUIT_RESET_SECONDS
    tune them; ``rate_limit_setting`` names the per-minute limit (0 turns it off) and
    ``<PROVIDER>_MONTHLY_QUOTA`` the monthly quota (0 or missing: none, calls still counted)."""
    from django.conf import settings

    redis_url = getattr(settings, "REDIS_URL", "") or None
    options: dict[str, Any] = {
        "connect_timeout": float(getattr(settings, "PROVIDER_CONNECT_TIMEOUT", 5.0)),
        "read_timeout": float(getattr(settings, "PROVIDER_READ_TIMEOUT", 20.0)),
        "max_attempts": int(getattr(settings, "PROVIDER_MAX_ATTEMPTS", 5)),
        "backoff_cap": float(getattr(settings, "PROVIDER_BACKOFF_CAP", 60.0)),
        "retry_after_cap": float(getattr(settings, "PROVIDER_RETRY_AFTER_CAP", 300.0)),
        "max_total_wait": float(getattr(settings, "PROVIDER_MAX_TOTAL_WAIT", 300.0)),
        "circuit": Circuit(
            provider,
            redis_url=redis_url,
            failure_threshold=int(getattr(settings, "PROVIDER_CIRCUIT_FAILURES", 5)),
            reset_timeout=float(getattr(settings, "PROVIDER_CIRCUIT_RESET_SECONDS", 300)),
        ),
        "rate_limit": None,
        "quota": MonthlyQuota.from_settings(provider),
    }
    per_minute = getattr(settings, rate_limit_setting, default_rpm) if rate_limit_setting else default_rpm
    if per_minute:
        options["rate_limit"] = RateLimiter(provider, per_minute=int(per_minute), redis_url=redis_url)
    return options
