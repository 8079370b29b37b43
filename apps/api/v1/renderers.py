"""CSV for every list: ``?format=csv`` or ``Accept: text/csv``. Nested objects flatten to
dotted columns (``price.price_usd``); a page's rows only — the next page is in the Link header."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping
from typing import Any

from rest_framework.renderers import BaseRenderer


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            # A list of objects by their slugs where they have them (chains), else as JSON.
            if all(isinstance(item, Mapping) and "slug" in item for item in value):
                flat[name] = " ".join(item["slug"] for item in value)
            elif any(isinstance(item, Mapping | list) for item in value):
                flat[name] = json.dumps(value, default=str)
            else:
                flat[name] = " ".join(str(item) for item in value)
        else:
            flat[name] = "" if value is None else value
    return flat


def csv_text(rows: Iterable[Mapping[str, Any]]) -> str:
    flat = [flatten(row) for row in rows]
    columns: dict[str, None] = {}
    for row in flat:
        columns.update(dict.fromkeys(row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(flat)
    return out.getvalue()


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None) -> bytes:
        if data is None:
            return b""
        if isinstance(data, Mapping) and "results" in data:
            rows = data["results"]
        elif isinstance(data, list):
            rows = data
        else:  # an error or a single object: one row
            rows = [data]
        return csv_text(rows).encode(self.charset)
