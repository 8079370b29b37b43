"""gunicorn's application for bench_pages: the site's own, each response carrying the worker's
CPU time for the request (``Server-Timing: cpu;dur=…``), so that on a busy machine time spent
working can be told from time spent waiting for a CPU. PostgreSQL's own work is not in it."""

from __future__ import annotations

import time

from config.wsgi import application as site


def application(environ, start_response):
    began = time.thread_time()

    def start(status, headers, exc_info=None):
        # Django renders the whole response before it starts it, so this is the request's work.
        headers.append(("Server-Timing", f"cpu;dur={(time.thread_time() - began) * 1000:.2f}"))
        return start_response(status, headers, exc_info)

    return site(environ, start)
