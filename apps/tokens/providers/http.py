"""The one HTTP client every live provider uses: timeouts, retries, a shared circuit and a
shared outbound rate limit.

* Every call carries an explicit ``httpx.Timeout`` (connect and read).
* Retryable: 408, 429, 5xx, timeouts, connection errors and resets, and HTML pages
  (Cloudflare, even with a 200). Not retried: any other 4xx (``ProviderFatalError``) and a
  2xx whose body is not JSON (``ProviderDataError``).
* Backoff is exponential with full jitter, capped; ``Retry-After`` (seconds or an HTTP date)
  sets a floor on the next wait. A ``Retry-After`` beyond ``retry_after_cap``, or a wait that
  would take the call past ``max_total_wait``, ends the call at once with
  ``ProviderRetryableError.retry_after`` set, so a task can reschedule itself instead of
  holding a worker. All waiting goes through the injected ``sleep``.
* ``Circuit`` and ``RateLimiter`` keep their state in Redis when given a URL, so every worker
  of a provider shares them; without one they are per process. If Redis is unreachable both
  fail open (the call goes ahead) and log a warning.
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
import random
import re
import ssl
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

import httpcore  # noqa: F401 (httpx imports it on its first client: a worker's first refresh would pay that)
import httpx

from .base import ProviderCircuitOpenError, ProviderDataError, ProviderFatalError, ProviderRetryableError

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


# --- Redis helpers ---------------------------------------------------------------------

REDIS_RETRY_AFTER = 15.0  # seconds a failed Redis is left alone before it is tried again

_redis_clients: dict[str, Any] = {}
_redis_down_until: dict[str, float] = {}
_redis_lock = threading.Lock()
_last_warning: dict[str, float] = {}


def _redis(url: str):
    """One client (connection pool) per URL and process; short timeouts so a dead Redis
    costs a second, not a refresh."""
    with _redis_lock:
        client = _redis_clients.get(url)
        if client is None:
            import redis

            client = redis.Redis.from_url(url, socket_connect_timeout=1.0, socket_timeout=1.0)
            _redis_clients[url] = client
        return client


def _redis_call(url: str, component: str, provider: str, operation: Callable[[Any], Any], default: Any) -> Any:
    """Run ``operation(client)``; if Redis fails, log a warning and return ``default`` (fail
    open). After a failure Redis is skipped for REDIS_RETRY_AFTER seconds, so an outage costs
    one timeout, not one per request."""
    import redis

    if _redis_down_until.get(url, -math.inf) > time.monotonic():
        return default
    try:
        return operation(_redis(url))
    except (redis.RedisError, OSError) as exc:
        now = time.monotonic()
        _redis_down_until[url] = now + REDIS_RETRY_AFTER
        key = f"{component}:{provider}"
        if now - _last_warning.get(key, -math.inf) >= 60:
            _last_warning[key] = now
            logger.warning("%s for %s: Redis unavailable (%s), failing open", component, provider, type(exc).__name__)
        return default


# --- Circuit breaker -------------------------------------------------------------------

_local_circuits: dict[str, dict[str, float]] = {}
_local_lock = threading.Lock()


class Circuit:
    """A circuit breaker per provider, shared by every worker through Redis.

    Each call that ends in a retryable failure (after its retries) counts one failure; a
    success resets the count. At ``failure_threshold`` the circuit opens: every client of the
    provider raises ``ProviderCircuitOpenError`` without a request until ``reset_timeout``
    seconds pass; then exactly one caller gets a trial request (half-open). The trial's
    success closes the circuit, its failure opens it again for ``reset_timeout``.

    Redis keys (``<prefix>:circuit:<provider>:…``): ``failures`` (counter, expires after
    ``failure_window`` seconds without failures), ``open_until`` (unix time by ``clock``) and
    ``trial`` (the half-open lock, expires after ``trial_ttl`` seconds if its holder dies).
    Without ``redis_url`` the same state lives in this process (shared by its instances).
    """

    def __init__(
        self,
        provider: str,
        *,
        redis_url: str | None = None,
        failure_threshold: int = 5,
        reset_timeout: float = 300,
        failure_window: float | None = None,
        trial_ttl: float = 120,
        clock: Callable[[], float] = time.time,
        key_prefix: str = "accrual",
    ) -> None:
        if failure_threshold < 1:
            raise ValueError("failure_threshold must be at least 1")
        self.provider = provider
        self.redis_url = redis_url or None
        self.failure_threshold = failure_threshold
        self.reset_timeout = float(reset_timeout)
        self.failure_window = float(failure_window if failure_window is not None else max(reset_timeout, 60))
        self.trial_ttl = float(trial_ttl)
        self.clock = clock
        base = f"{key_prefix}:circuit:{provider}"
        self.failures_key = f"{base}:failures"
        self.open_until_key = f"{base}:open_until"
        self.trial_key = f"{base}:trial"
        # Set by before_request when the shared state was clean (no failures, not open):
        # the success that follows then has nothing to clear and skips its round trip.
        self._seen = threading.local()

    def before_request(self) -> bool:
        """Raise ``ProviderCircuitOpenError`` while the circuit is open; return True when this
        caller holds the half-open trial (it then makes a single attempt)."""
        if self.redis_url:
            return _redis_call(self.redis_url, "circuit", self.provider, self._redis_before_request, False)
        return self._local_before_request()

    def record_success(self) -> None:
        if self.redis_url:
            if getattr(self._seen, "clean", False):
                self._seen.clean = False
                return
            _redis_call(
                self.redis_url,
                "circuit",
                self.provider,
                lambda r: r.delete(self.failures_key, self.open_until_key, self.trial_key),
                None,
            )
            return
        with _local_lock:
            _local_circuits.pop(self.failures_key, None)

    def record_failure(self, *, trial: bool = False) -> None:
        """One call ended in a retryable failure; a failed trial re-opens the circuit at once."""
        self._seen.clean = False
        if self.redis_url:
            _redis_call(self.redis_url, "circuit", self.provider, lambda r: self._redis_record_failure(r, trial), None)
            return
        with _local_lock:
            state = _local_circuits.setdefault(self.failures_key, {})
            now = self.clock()
            if now - state.get("last_failure", now) > self.failure_window:
                state["failures"] = 0
            state["failures"] = failures = state.get("failures", 0) + 1
            state["last_failure"] = now
            state.pop("trial", None)
            if trial or failures >= self.failure_threshold:
                state["open_until"] = now + self.reset_timeout
                self._log_opened(int(failures))

    def open_until(self) -> float | None:
        if self.redis_url:
            raw = _redis_call(self.redis_url, "circuit", self.provider, lambda r: r.get(self.open_until_key), None)
            return float(raw) if raw is not None else None
        with _local_lock:
            return _local_circuits.get(self.failures_key, {}).get("open_until")

    def state(self) -> str:
        """ "closed", "open" or "half-open" (for status pages and tests)."""
        open_until = self.open_until()
        if open_until is None:
            return "closed"
        return "open" if self.clock() < open_until else "half-open"

    def reset(self) -> None:
        """Forget all state (an operator's or a test's reset)."""
        self._seen.clean = False
        self.record_success()

    def _local_before_request(self) -> bool:
        with _local_lock:
            state = _local_circuits.get(self.failures_key)
            if not state or "open_until" not in state:
                return False
            now = self.clock()
            if now < state["open_until"] or state.get("trial", -math.inf) > now:
                raise ProviderCircuitOpenError(self.provider, state["open_until"])
            state["trial"] = now + self.trial_ttl
            return True

    def _redis_before_request(self, client: Any) -> bool:
        raw, failures = client.mget(self.open_until_key, self.failures_key)
        self._seen.clean = raw is None and failures is None
        if raw is None:
            return False
        open_until = float(raw)
        if self.clock() < open_until:
            raise ProviderCircuitOpenError(self.provider, open_until)
        if client.set(self.trial_key, "1", nx=True, ex=max(1, math.ceil(self.trial_ttl))):
            logger.info("circuit for %s half-open: sending one trial request", self.provider)
            return True
        raise ProviderCircuitOpenError(self.provider, open_until)

    def _redis_record_failure(self, client: Any, trial: bool) -> None:
        pipe = client.pipeline(transaction=True)
        pipe.incr(self.failures_key)
        pipe.expire(self.failures_key, max(1, math.ceil(self.failure_window)))
        failures = int(pipe.execute()[0])
        if trial or failures >= self.failure_threshold:
            open_until = self.clock() + self.reset_timeout
            # The key outlives the open period in real time; its value decides.
            ttl = max(1, math.ceil(self.reset_timeout + self.failure_window))
            pipe = client.pipeline(transaction=True)
            pipe.set(self.open_until_key, repr(open_until), ex=ttl)
            pipe.delete(self.trial_key)
            pipe.execute()
            self._log_opened(failures)

    def _log_opened(self, failures: int) -> None:
        logger.warning(
            "circuit for %s opened after %d failed calls; no requests for %.0f s",
            self.provider,
            failures,
            self.reset_timeout,
        )


# --- Rate limiter ----------------------------------------------------------------------

_local_windows: dict[str, tuple[int, int]] = {}


class RateLimiter:
    """At most ``per_minute`` requests per fixed window for a provider, across all workers.

    With Redis the counter is ``<prefix>:ratelimit:<provider>:<window number>``, incremented
    and given a TTL in one MULTI/EXEC; windows are aligned on unix time, so every process
    agrees on them. When a window is full the caller waits (through ``sleep``) for the next.
    Without ``redis_url`` the count is per process. If Redis fails the request goes ahead.
    """

    def __init__(
        self,
        provider: str,
        *,
        per_minute: int,
        redis_url: str | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        window: float = 60.0,
        key_prefix: str = "accrual",
    ) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.provider = provider
        self.per_minute = per_minute
        self.redis_url = redis_url or None
        self.sleep = sleep
        self.clock = clock
        self.window = float(window)
        self.key_base = f"{key_prefix}:ratelimit:{provider}"

    def acquire(self) -> float:
        """Take one slot, waiting for the next window while this one is full; returns the
        seconds waited."""
        waited = 0.0
        while True:
            now = self.clock()
            window_no = int(now // self.window)
            if self._take(window_no) <= self.per_minute:
                return waited
            wait = max((window_no + 1) * self.window - now, 0.001)
            logger.info("rate limit for %s: window full, waiting %.2f s", self.provider, wait)
            self.sleep(wait)
            waited += wait

    def _take(self, window_no: int) -> int:
        if self.redis_url:
            key = f"{self.key_base}:{window_no}"

            def incr(client: Any) -> int:
                pipe = client.pipeline(transaction=True)
                pipe.incr(key)
                pipe.expire(key, max(1, math.ceil(self.window * 2)))
                return int(pipe.execute()[0])

            return _redis_call(self.redis_url, "rate limiter", self.provider, incr, 0)
        with _local_lock:
            current, count = _local_windows.get(self.key_base, (window_no, 0))
            count = count + 1 if current == window_no else 1
            _local_windows[self.key_base] = (window_no, count)
            return count


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


@dataclass(frozen=True, slots=True)
class _Retry:
    reason: str
    status: int | None = None
    retry_after: float | None = None


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
    """Sync JSON client for one provider. See the module docstring for the policy."""

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
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.provider = provider
        self.max_attempts = max_attempts
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.retry_after_cap = retry_after_cap
        self.max_total_wait = max_total_wait
        self.circuit = circuit if circuit is not None else Circuit(provider, clock=clock)
        self.rate_limit = rate_limit
        self.sleep = sleep
        self.clock = clock
        self.rng = rng or random.Random()
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

    def backoff(self, retry_number: int) -> float:
        """Full jitter: uniform(0, min(cap, base × 2^n)) for the n-th retry (n from 0)."""
        return self.rng.uniform(0, min(self.backoff_cap, self.backoff_base * 2**retry_number))

    def _call(self, method: str, path: str, *, params: dict[str, Any] | None = None, json_body: Any = None) -> Any:
        self.stats.requests += 1
        trial = self.circuit.before_request()
        attempt = 0
        waited = 0.0
        while True:
            attempt += 1
            try:
                outcome = self._attempt(method, path, params=params, json_body=json_body)
            except (ProviderFatalError, ProviderDataError):
                # The provider answered: it is up, whatever it thinks of this request.
                self.circuit.record_success()
                raise
            if not isinstance(outcome, _Retry):
                self.circuit.record_success()
                return outcome.value
            if trial or attempt >= self.max_attempts:
                give_up, retry_after = "", outcome.retry_after
                break
            wait = self.backoff(attempt - 1)
            if outcome.retry_after is not None:
                wait = max(wait, outcome.retry_after)
            if outcome.retry_after is not None and outcome.retry_after > self.retry_after_cap:
                give_up = f"Retry-After {outcome.retry_after:.0f} s exceeds the {self.retry_after_cap:.0f} s cap"
                retry_after = outcome.retry_after
                break
            if self.max_total_wait is not None and waited + wait > self.max_total_wait:
                give_up = f"waiting {wait:.0f} s more would exceed the {self.max_total_wait:.0f} s budget"
                retry_after = wait
                break
            logger.warning(
                "%s %s %s: attempt %d/%d failed (%s); retrying in %.2f s",
                self.provider,
                method,
                redact(path),
                attempt,
                self.max_attempts,
                outcome.reason,
                wait,
            )
            self.stats.retries += 1
            self._wait(wait)
            waited += wait
            # Another worker may have opened the circuit while this one waited.
            trial = self.circuit.before_request()
        self.stats.failures += 1
        self.circuit.record_failure(trial=trial)
        reason = f"{method} {path}: {outcome.reason}" + (f"; {give_up}" if give_up else "")
        logger.warning("%s %s", self.provider, redact(reason))
        raise ProviderRetryableError(
            self.provider, redact(reason), status=outcome.status, attempts=attempt, retry_after=retry_after
        )

    def _wait(self, seconds: float) -> None:
        if seconds > 0:
            self.stats.waited += seconds
            self.sleep(seconds)

    def _attempt(self, method: str, path: str, *, params: dict[str, Any] | None, json_body: Any) -> _Retry | _Ok:
        if self.rate_limit is not None:
            self.stats.waited += self.rate_limit.acquire()
        self.stats.attempts += 1
        try:
            response = self._client.request(method, path, params=params, json=json_body, timeout=self.timeout)
        except httpx.TimeoutException as exc:
            return _Retry(f"timeout ({type(exc).__name__})")
        except httpx.TransportError as exc:
            return _Retry(f"connection error ({type(exc).__name__})")
        return self._classify(response, path)

    def _classify(self, response: httpx.Response, path: str) -> _Retry | _Ok:
        status = response.status_code
        content_type = response.headers.get("content-type", "")
        body = response.content
        html = _looks_like_html(body, content_type)
        if status in (408, 429) or status >= 500 or (html and (status < 400 or status == 403)):
            message, _code = error_summary(body, content_type)
            retry_after = parse_retry_after(response.headers.get("retry-after"), now=self.clock())
            return _Retry(redact(f"HTTP {status}: {message}"), status=status, retry_after=retry_after)
        if status >= 300:
            message, code = error_summary(body, content_type)
            if status < 400:
                message = "unexpected redirect"
            raise ProviderFatalError(self.provider, status, redact(message), error_code=code, path=redact(path))
        try:
            # Numbers with a fraction become Decimals straight from their text: exact, and
            # without a float (and its repr) in between.
            return _Ok(json.loads(body, parse_float=Decimal))
        except ValueError as exc:
            raise ProviderDataError(
                f"{self.provider} {redact(path)}: truncated or invalid JSON ({len(body)} bytes)"
            ) from exc


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context, built once per process (at import, so before a
    worker's first task): building it loads the CA bundle, about 20 ms that every refresh
    would otherwise pay for its client."""
    return httpx.create_ssl_context()


tls_context()


@dataclass(frozen=True, slots=True)
class _Ok:
    value: Any


def provider_http_options(
    provider: str, *, rate_limit_setting: str | None = None, default_rpm: int | None = None
) -> dict[str, Any]:
    """ProviderHttpClient keyword arguments from settings (read with getattr, so every one is
    optional): REDIS_URL shares the circuit and the rate limit between workers;
    PROVIDER_CONNECT_TIMEOUT, PROVIDER_READ_TIMEOUT, PROVIDER_MAX_ATTEMPTS,
    PROVIDER_BACKOFF_CAP, PROVIDER_RETRY_AFTER_CAP, PROVIDER_MAX_TOTAL_WAIT (per call, keeps a
    task inside its time limit), PROVIDER_CIRCUIT_FAILURES and PROVIDER_CIRCUIT_RESET_SECONDS
    tune them; ``rate_limit_setting`` names the per-minute
    limit (0 turns it off)."""
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
    }
    per_minute = getattr(settings, rate_limit_setting, default_rpm) if rate_limit_setting else default_rpm
    if per_minute:
        options["rate_limit"] = RateLimiter(provider, per_minute=int(per_minute), redis_url=redis_url)
    return options
