"""Kept list pages: the shared copy (the site's cache) and this process's, each used only with
the generation it was rendered from and until it expires."""

from __future__ import annotations

import time

from django.core.cache import cache

from apps.api.v1 import kept_pages
from apps.api.v1.kept_pages import KeptPage, ProcessPages, page_find, page_keep, process_pages


def page(generation: str = "g1", size: int = 10, expires_in: float = 60) -> KeptPage:
    return KeptPage(generation, time.time() + expires_in, b"x" * size, (("ETag", '"e"'),))


def test_a_process_holds_pages_up_to_its_bytes_dropping_the_least_recently_used():
    pages = ProcessPages(max_bytes=25)
    pages.put("a", page(size=10))
    pages.put("b", page(size=10))
    assert pages.get("a") is not None  # now the most recently used
    pages.put("c", page(size=10))
    assert (pages.get("a") is not None, pages.get("b"), pages.get("c") is not None) == (True, None, True)
    assert pages.size == 20
    pages.put("huge", page(size=26))
    assert pages.get("huge") is None and pages.size == 20
    pages.put("a", page(size=5))  # replaced, not counted twice
    assert pages.size == 15


def test_a_page_kept_is_found_in_this_process_and_by_the_others_through_the_cache():
    page_keep("k", "g1", b"body", [("ETag", '"e"')])
    assert page_find("k", "g1", held=process_pages.get("k"), shared=None, read=True).content == b"body"
    process_pages.clear()  # another process: nothing held, the shared copy read with the request's reads
    found = page_find("k", "g1", held=None, shared=cache.get("k"), read=True)
    assert found.content == b"body" and process_pages.get("k") == found  # and now held


def test_a_held_page_of_another_generation_gives_way_to_the_shared_one():
    process_pages.put("k", page("old"))
    cache.set("k", page("new"), 60)
    found = page_find("k", "new", held=process_pages.get("k"), shared=None, read=False)
    assert found.generation == "new" and process_pages.get("k").generation == "new"
    assert page_find("k", "newer", held=process_pages.get("k"), shared=None, read=False) is None


def test_a_page_is_not_used_past_its_minute(monkeypatch):
    page_keep("k", "g1", b"body", [])
    later = time.time() + kept_pages.KEEP_SECONDS + 1
    monkeypatch.setattr(kept_pages.time, "time", lambda: later)
    assert page_find("k", "g1", held=process_pages.get("k"), shared=None, read=False) is None
