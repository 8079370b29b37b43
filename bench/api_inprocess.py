"""The subscriber API's request measured in process: the WSGI application called directly with
the request bench_api sends (no network, no gunicorn), against the bare view, in alternating
rounds; the best round of each. ``--profile`` prints cProfile's top functions for the API.

    python -m bench.api_inprocess                     # after bench_api has built its database
    python -m bench.api_inprocess --profile

Uses bench_api's database (``--database-url``) and a Redis index of its own (``--redis-url``,
default 12, flushed), production settings and a key made for the run.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import secrets
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
API = ("/api/v1/tokens/", "page_size=100")
CEILING = ("/bench/ceiling/", "")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default="postgres://postgres@127.0.0.1:5432/accrual_bench_api")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/12")
    parser.add_argument("--requests", type=int, default=1000, help="a round, a side")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    if "bench" not in args.database_url.rsplit("/", 1)[-1]:
        sys.exit("refusing a database whose name lacks 'bench'")
    payload = Path(tempfile.mkdtemp(prefix="bench-api-inprocess-")) / "payload.json"
    payload.write_bytes(b"{}")
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(50),  # made for the run, never stored
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        LOG_LEVEL="WARNING",
        BENCH_API_PAYLOAD=str(payload),
    )
    sys.path.insert(0, str(ROOT))
    import redis

    redis.Redis.from_url(args.redis_url).flushdb()
    import bench.api_wsgi as api_wsgi
    from apps.accounts.models import User
    from apps.api.models import APIKey
    from apps.api.services import api_key_create, api_key_revoke

    user = User.objects.get(email="bench-api@example.com")  # bench_api's reader
    for old in APIKey.objects.filter(user=user, revoked=False, name="in process"):
        api_key_revoke(key=old)
    _, key = api_key_create(user=user, name="in process", scopes=["read"])

    def call(path: str, query: str) -> bytes:
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query, "SERVER_NAME": "127.0.0.1",
            "SERVER_PORT": "8732", "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr, "HTTP_HOST": "127.0.0.1:8732",
            "HTTP_X_API_KEY": key, "HTTP_ACCEPT": "*/*", "HTTP_USER_AGENT": "Python-urllib/3.11",
        }  # fmt: skip
        result = api_wsgi.application(environ, lambda status, headers, exc_info=None: None)
        body = b"".join(result)
        result.close()
        return body

    payload.write_bytes(call(*API))  # the ceiling answers the API's own bytes
    api_wsgi._payload.cache_clear()
    best: dict[str, tuple[float, float]] = {}
    for _ in range(args.rounds):
        for name, request in (("ceiling", CEILING), ("api", API)):
            for _ in range(20):
                call(*request)
            wall, cpu = time.perf_counter(), time.process_time()
            for _ in range(args.requests):
                call(*request)
            wall = (time.perf_counter() - wall) / args.requests * 1000
            cpu = (time.process_time() - cpu) / args.requests * 1000
            old = best.get(name, (float("inf"), float("inf")))
            best[name] = (min(old[0], wall), min(old[1], cpu))
    for name, (wall, cpu) in best.items():
        print(f"{name:<8} best round: {wall:.3f} ms a request, {cpu:.3f} ms of CPU")
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            call(*API)
        profile.disable()
        pstats.Stats(profile).sort_stats("cumulative").print_stats(40)


if __name__ == "__main__":
    main()
