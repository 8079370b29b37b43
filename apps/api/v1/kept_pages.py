"""Rendered list pages, kept so that a list's database work is done once a minute, not once a
request: the same page for every caller (their keys are checked and counted first).

Two levels. The site's cache (Redis) shares a page between the web processes; each process
also holds the pages it served, which spares it copying a page (100 KB for 100 tokens) out of
Redis on every request: about a tenth of a kept request's CPU, its own and Redis's
(bench/README "Subscriber API"). At either level a page is used only with the data generation
it was rendered from, and for at most KEEP_SECONDS after rendering: stale flags are worked out
against the time of rendering.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from dataclasses import dataclass

from django.core.cache import cache

KEEP_SECONDS = 60
# A process's pages, least recently used dropped first past this many bytes.
PROCESS_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class KeptPage:
    generation: str
    expires: float  # time.time()
    content: bytes
    headers: tuple[tuple[str, str], ...]

    def usable(self, generation: str) -> bool:
        return self.generation == generation and time.time() < self.expires


class ProcessPages:
    def __init__(self, max_bytes: int = PROCESS_BYTES) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.pages: OrderedDict[str, KeptPage] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: str) -> KeptPage | None:
        with self.lock:
            page = self.pages.get(key)
            if page is not None:
                self.pages.move_to_end(key)
            return page

    def put(self, key: str, page: KeptPage) -> None:
        with self.lock:
            old = self.pages.pop(key, None)
            if old is not None:
                self.size -= len(old.content)
            if len(page.content) > self.max_bytes:
                return
            self.pages[key] = page
            self.size += len(page.content)
            while self.size > self.max_bytes:
                _, dropped = self.pages.popitem(last=False)
                self.size -= len(dropped.content)

    def clear(self) -> None:
        with self.lock:
            self.pages.clear()
            self.size = 0


process_pages = ProcessPages()


def page_keep(key: str, generation: str, content: bytes, headers) -> None:
    page = KeptPage(generation, time.time() + KEEP_SECONDS, content, tuple(headers))
    cache.set(key, page, KEEP_SECONDS)
    process_pages.put(key, page)


def page_find(
    key: str, generation: str, *, held: KeptPage | None, shared: KeptPage | None, read: bool
) -> KeptPage | None:
    """The usable page under ``key``: this process's (``held``), else the shared one (``shared``,
    if ``read`` with the request's other cache reads; else read now)."""
    if held is not None and held.usable(generation):
        return held
    if not read:
        shared = cache.get(key)
    if shared is not None and shared.usable(generation):
        process_pages.put(key, shared)
        return shared
    return None
