"""Cursor paging over a stable order: every list sorts on a unique key last (a slug, a date,
an id), so a cursor — a signed position in that order — never skips or repeats a row while
the data stands still. A tampered or stale-format cursor is a 400, not a 500."""

from __future__ import annotations

from collections import OrderedDict

from django.core import signing
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import BasePagination
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from apps.tokens.selectors import data_status

# No timestamp: a page's links, and so its ETag, stay the same while its rows do.
CURSOR_SIGNER = signing.Signer(salt="api.v1.cursor")
MAX_PAGE_SIZE = 1000


class StableCursorPagination(BasePagination):
    cursor_query_param = "cursor"
    page_size_query_param = "page_size"
    page_size = 100

    def _page_size(self, request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            size = 0
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise ValidationError({self.page_size_query_param: f"A whole number from 1 to {MAX_PAGE_SIZE}."})
        return size

    def _position(self, request) -> int:
        raw = request.query_params.get(self.cursor_query_param)
        if not raw:
            return 0
        try:
            position = CURSOR_SIGNER.unsign_object(raw)
        except (signing.BadSignature, ValueError):
            position = None
        if not isinstance(position, int) or position < 0:
            raise ValidationError({self.cursor_query_param: "Not a cursor this API gave out; start again without it."})
        return position

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        self.size = self._page_size(request)
        self.position = self._position(request)
        # One row past the page says whether there is a next one, without a COUNT.
        rows = list(queryset[self.position : self.position + self.size + 1])
        self.has_next = len(rows) > self.size
        return rows[: self.size]

    def _link(self, position: int | None) -> str | None:
        if position is None:
            return None
        url = self.request.build_absolute_uri()
        if position == 0:
            return remove_query_param(url, self.cursor_query_param)
        return replace_query_param(url, self.cursor_query_param, CURSOR_SIGNER.sign_object(position))

    def get_next_link(self) -> str | None:
        return self._link(self.position + self.size if self.has_next else None)

    def get_previous_link(self) -> str | None:
        return self._link(max(self.position - self.size, 0) if self.position else None)

    def get_paginated_response(self, data):
        status = data_status()
        links = [
            f'<{url}>; rel="{rel}"'
            for rel, url in (("next", self.get_next_link()), ("prev", self.get_previous_link()))
            if url
        ]
        headers = {"Link": ", ".join(links)} if links else None
        return Response(
            OrderedDict(
                [
                    ("next", self.get_next_link()),
                    ("previous", self.get_previous_link()),
                    ("data_set", {"mode": status.mode, "sample": status.mode == "sample"}),
                    ("results", data),
                ]
            ),
            headers=headers,
        )

    def get_paginated_response_schema(self, schema):
        return {
            "type": "object",
            "required": ["next", "previous", "data_set", "results"],
            "properties": {
                "next": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The next page, or null on the last.",
                },
                "previous": {
                    "type": "string",
                    "nullable": True,
                    "format": "uri",
                    "description": "The previous page, or null on the first.",
                },
                "data_set": {
                    "type": "object",
                    "description": "Which data set the figures come from.",
                    "properties": {
                        "mode": {
                            "type": "string",
                            "description": "sample (bundled, generated figures), live, or empty before any data.",
                        },
                        "sample": {
                            "type": "boolean",
                            "description": "True when every figure is sample data, not market data.",
                        },
                    },
                },
                "results": {**schema, "description": "This page's rows."},
            },
        }

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": "The opaque cursor from a previous page's next or previous link.",
                "schema": {"type": "string"},
            },
            {
                "name": self.page_size_query_param,
                "required": False,
                "in": "query",
                "description": f"Rows per page, 1 to {MAX_PAGE_SIZE} (default {self.page_size}).",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PAGE_SIZE},
            },
        ]
